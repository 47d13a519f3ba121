// The visual builders (segment filters, automation conditions and actions). No inline script: the
// pages carry a Content-Security-Policy without 'unsafe-inline'. The server renders every input;
// this file only copies its <template>s and posts the form for the live count.
//   <div data-rows="f" data-next="3">              the rows of one list (prefix "f")
//   <button data-add-row="f">                       appends <template data-row-template="f">
//   <button data-remove-row>                        removes its [data-row]
//   <select data-switch="f">                        swaps the row's [data-switch-target="f"] for
//                                                   <template data-switch-group="f" data-switch-value=…>
//   <select data-op>                                "any of" makes the value select multiple; "is set"
//                                                   hides the value
//   <select data-trigger-choice>                    shows the pattern input ([data-trigger-custom]) for "other"
//   <form data-live-count="URL">                    posts itself there on change; the answer's text goes
//                                                   into its [data-count-output]
(function () {
  "use strict";
  const LIST_OPS = ["in", "not_in"];
  const NO_VALUE = ["exists", "not_exists"];

  function fromTemplate(template, index) {
    // the templates are rendered (and escaped) by the server; only the index placeholder changes
    const holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.split("__i__").join(String(index)).trim();
    return holder.firstElementChild;
  }

  function builderOf(element) {
    return element.closest("[data-builder]") || document;
  }

  function findTemplate(root, selector, value) {
    return Array.from(root.querySelectorAll(selector)).find((t) => t.dataset.switchValue === value) || null;
  }

  function syncOperator(select) {
    const row = select.closest("[data-row]") || select.parentElement;
    const wrap = row.querySelector("[data-value-wrap]");
    if (!wrap) return;
    const valueSelect = wrap.querySelector("select[data-value]");
    if (valueSelect) valueSelect.multiple = LIST_OPS.includes(select.value);
    wrap.hidden = NO_VALUE.includes(select.value);
  }

  function syncTrigger(select) {
    const custom = builderOf(select).querySelector("[data-trigger-custom]");
    if (custom) custom.hidden = select.value !== "__other__";
  }

  function changed(form) {
    if (form) form.dispatchEvent(new Event("crm:changed", { bubbles: true }));
  }

  document.addEventListener("click", (event) => {
    const add = event.target.closest ? event.target.closest("[data-add-row]") : null;
    if (add) {
      const prefix = add.dataset.addRow;
      const root = builderOf(add);
      const rows = root.querySelector(`[data-rows="${prefix}"]`);
      const template = root.querySelector(`template[data-row-template="${prefix}"]`);
      if (!rows || !template) return;
      const index = Number(rows.dataset.next || rows.children.length);
      rows.dataset.next = String(index + 1);
      const row = fromTemplate(template, index);
      rows.appendChild(row);
      const first = row.querySelector("select, input");
      if (first) first.focus();
      changed(add.form);
      return;
    }
    const remove = event.target.closest ? event.target.closest("[data-remove-row]") : null;
    if (remove) {
      const form = remove.form;
      const row = remove.closest("[data-row]");
      if (row) row.remove();
      changed(form);
    }
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (!target.matches) return;
    if (target.matches("select[data-switch]")) {
      const group = target.dataset.switch;
      const row = target.closest("[data-row]");
      const slot = row && row.querySelector(`[data-switch-target="${group}"]`);
      if (!slot) return;
      const template = findTemplate(builderOf(target), `template[data-switch-group="${group}"]`, target.value);
      const replacement = template ? fromTemplate(template, row.dataset.index) : document.createElement("span");
      replacement.dataset.switchTarget = group;
      slot.replaceWith(replacement);
      replacement.querySelectorAll("select[data-op]").forEach(syncOperator);
    } else if (target.matches("select[data-op]")) {
      syncOperator(target);
    } else if (target.matches("select[data-trigger-choice]")) {
      syncTrigger(target);
    }
  });

  function liveCount(form) {
    const output = form.querySelector("[data-count-output]");
    if (!output) return;
    let timer = null;
    let latest = 0;
    const run = () => {
      const ticket = ++latest;
      fetch(form.dataset.liveCount, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then((response) => response.json().then((data) => ({ ok: response.ok, data })))
        .then(({ ok, data }) => {
          if (ticket !== latest) return; // an older answer arriving late
          output.textContent = data.text || "";
          output.dataset.count = ok ? String(data.count) : "";
          output.classList.toggle("crm-bad", !ok);
        })
        .catch(() => {
          if (ticket === latest) output.classList.add("crm-bad");
        });
    };
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(run, 300);
    };
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    form.addEventListener("crm:changed", later);
    run();
  }

  function start() {
    document.querySelectorAll("select[data-op]").forEach(syncOperator);
    document.querySelectorAll("select[data-trigger-choice]").forEach(syncTrigger);
    document.querySelectorAll("form[data-live-count]").forEach(liveCount);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
