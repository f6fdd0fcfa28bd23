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
    // select2 draws its combos from a jQuery ready handler, which jQuery runs asynchronously: it
    // can come after "load" (an audit run on load then found them unnamed). A MutationObserver
    // names each combo as soon as it is drawn, whenever that is (inline rows added later too).
    document.addEventListener("DOMContentLoaded", function () {
        nameComboboxes(document);
        new MutationObserver(function () { nameComboboxes(document); })
            .observe(document.body, { childList: true, subtree: true });
    });
})();
