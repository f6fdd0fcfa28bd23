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
    // An open select2 (axe, on the booking form's driver list open): its combobox says
    // aria-expanded="true" and points at its list with ARIA 1.0's aria-owns only, where ARIA 1.2
    // asks for aria-controls (aria-required-attr, critical); and the search box typed into has no
    // name (label, critical). Mirror aria-owns into aria-controls, and name the search box after
    // its combobox, whenever select2 opens or closes one.
    function syncOpenState(combobox) {
        if (!combobox.matches(".select2-selection[role=combobox]")) {
            return;
        }
        const list = combobox.getAttribute("aria-owns");
        if (!list) {
            combobox.removeAttribute("aria-controls");
            return;
        }
        if (combobox.getAttribute("aria-controls") !== list) {
            combobox.setAttribute("aria-controls", list);
        }
        // The dropdown (and its search box) is attached to the page as it opens: by now it is there.
        const search = document.querySelector('.select2-search__field[aria-controls="' + list + '"]');
        const name = combobox.getAttribute("aria-label");
        if (search && name && !search.hasAttribute("aria-label")) {
            search.setAttribute("aria-label", "Search: " + name);
        }
    }
    document.addEventListener("DOMContentLoaded", function () {
        nameComboboxes(document);
        new MutationObserver(function () { nameComboboxes(document); })
            .observe(document.body, { childList: true, subtree: true });
        new MutationObserver(function (records) {
            records.forEach(function (record) { syncOpenState(record.target); });
        }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ["aria-owns"] });
    });
})();
