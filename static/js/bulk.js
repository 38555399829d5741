/*
 * The lead list's bulk selection (templates/leads/includes/bulk_bar.html):
 * - "Select all on this page" ([data-bulk-page]) ticks or clears every row's box;
 * - the count ([data-bulk-count]) says how many are ticked, or that all matching are,
 *   in the page's language: its data-text-* attributes hold the translated sentences
 *   ("{n}" stands for the number), one and other chosen by the language's plural rule;
 * - "Select all N matching" ([data-bulk-all]) ticks the page's boxes too, and a row
 *   cleared by hand clears it (the selection is then the ticked rows again).
 * Without this script the form still works: tick rows, or "Select all matching".
 * Listeners sit on the document, so rows swapped in by htmx need nothing.
 */
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="lead"][form="bulk-form"]'));
  }

  // The page's language decides "1 lead" or "2 leads"; without Intl, English's rule.
  var pluralRules = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang || "en") : null;

  function tickedText(count, ticked) {
    var form = pluralRules ? pluralRules.select(ticked) : ticked === 1 ? "one" : "other";
    var text = count.getAttribute("data-text-" + form) || count.getAttribute("data-text-other");
    return text.replace("{n}", ticked);
  }

  function update() {
    var form = document.querySelector("[data-bulk-form]");
    if (!form) return;
    var boxes = rows();
    var ticked = boxes.filter(function (box) {
      return box.checked;
    }).length;
    var all = form.querySelector("[data-bulk-all]");
    var page = document.querySelector("[data-bulk-page]");
    var count = form.querySelector("[data-bulk-count]");
    if (page) {
      page.checked = boxes.length > 0 && ticked === boxes.length;
      page.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    if (all && all.checked) {
      count.textContent = count.getAttribute("data-text-all");
    } else if (ticked === 0) {
      count.textContent = count.getAttribute("data-text-none");
    } else {
      count.textContent = tickedText(count, ticked);
    }
    form.classList.toggle("has-selection", ticked > 0 || (all && all.checked));
  }

  document.addEventListener("change", function (evt) {
    var target = evt.target;
    if (!target.matches) return;
    if (target.matches("[data-bulk-page]")) {
      rows().forEach(function (box) {
        box.checked = target.checked;
      });
      if (!target.checked) {
        var all = document.querySelector("[data-bulk-all]");
        if (all) all.checked = false;
      }
    } else if (target.matches("[data-bulk-all]")) {
      if (target.checked) {
        rows().forEach(function (box) {
          box.checked = true;
        });
      }
    } else if (target.matches('input[name="lead"][form="bulk-form"]')) {
      var everything = document.querySelector("[data-bulk-all]");
      if (!target.checked && everything) everything.checked = false;
    } else {
      return;
    }
    update();
  });

  document.addEventListener("htmx:afterSettle", update);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else {
    update();
  }
})();
