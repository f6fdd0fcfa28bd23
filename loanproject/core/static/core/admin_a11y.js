"use strict";
// select2 (the admin's autocomplete) draws a combobox that carries no name of its own; screen
// readers then announce an unnamed field (axe: aria-input-field-name). Name each one after the
// <label> of the <select> it stands for, on load and for inline rows added later.
(function () {
    function nameComboboxes(root) {
        root.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
            const label = select.id && document.querySelector('label[for="' + select.id + '"]');
            if (!label) {
                return;
            }
            const name = label.textContent.replace(/:\s*$/, "").trim();
            // The combobox and the textbox that shows the chosen value: both are announced.
            select.parentElement.querySelectorAll(
                ".select2-selection[role=combobox], .select2-selection__rendered[role=textbox]"
            ).forEach(function (element) {
                if (!element.hasAttribute("aria-label")) {
                    element.setAttribute("aria-label", name);
                }
            });
        });
    }
    window.addEventListener("load", function () { nameComboboxes(document); });
    document.addEventListener("formset:added", function (event) { nameComboboxes(event.target); });
})();
