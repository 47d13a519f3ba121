// Search-as-you-type pickers for references (owner, customer, department, stage...).
//
// Markup (crm/macros.html, macro `picker`):
//   <div class="crm-picker" data-picker data-lookup="/lookup/customers" data-depends="pipeline_id"
//        data-empty="No matches">
//     <input type="hidden" name="customer_id" value="12" data-picker-value>
//     <input type="text" role="combobox" data-picker-input value="Zhou Jie">
//     <ul role="listbox" data-picker-list hidden></ul>
//   </div>
// The hidden input carries the id the form posts; the text input shows the chosen name and
// searches as the user types (GET data-lookup?q=..., answered with the records the user may
// read). Keyboard: Down/Up move through the answers, Enter chooses, Escape closes and restores.
// Emptying the text clears the reference. A picker with data-depends (a stage) sends the value
// of that input of the same form (pipeline_id) along and is cleared when it changes.
// Listeners are delegated from the document, so pickers swapped in by htmx work as well.
(function () {
  "use strict";
  const DELAY = 200;
  let seq = 0;

  function parts(el) {
    const root = el.closest("[data-picker]");
    if (!root) return null;
    return {
      root: root,
      value: root.querySelector("[data-picker-value]"),
      input: root.querySelector("[data-picker-input]"),
      list: root.querySelector("[data-picker-list]"),
    };
  }

  function options(p) {
    return Array.from(p.list.querySelectorAll("[role=option]"));
  }

  function close(p) {
    p.list.hidden = true;
    p.input.setAttribute("aria-expanded", "false");
    p.input.removeAttribute("aria-activedescendant");
  }

  function setActive(p, index) {
    const items = options(p);
    items.forEach((item, i) => item.setAttribute("aria-selected", i === index ? "true" : "false"));
    if (index >= 0 && items[index]) {
      p.input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    } else {
      p.input.removeAttribute("aria-activedescendant");
    }
  }

  function activeIndex(p) {
    return options(p).findIndex((item) => item.getAttribute("aria-selected") === "true");
  }

  function choose(p, item) {
    const changed = p.value.value !== item.dataset.id;
    p.value.value = item.dataset.id;
    p.input.value = item.dataset.label;
    p.root.dataset.chosen = item.dataset.label;
    close(p);
    if (changed) p.value.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function clear(p) {
    const changed = p.value.value !== "";
    p.value.value = "";
    p.root.dataset.chosen = "";
    if (changed) p.value.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function render(p, results) {
    p.list.textContent = "";
    const base = p.list.id || "picker";
    results.forEach((result, i) => {
      const item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = base + "-" + i;
      item.dataset.id = String(result.id);
      item.dataset.label = result.label;
      item.setAttribute("aria-selected", "false");
      item.textContent = result.label;
      if (result.hint) {
        const hint = document.createElement("small");
        hint.textContent = result.hint;
        item.appendChild(hint);
      }
      p.list.appendChild(item);
    });
    if (!results.length) {
      const empty = document.createElement("li");
      empty.className = "crm-picker-empty";
      empty.textContent = p.root.dataset.empty || "—";
      p.list.appendChild(empty);
    }
    p.list.hidden = false;
    p.input.setAttribute("aria-expanded", "true");
    setActive(p, results.length ? 0 : -1);
  }

  function search(p) {
    const url = new URL(p.root.dataset.lookup, window.location.href);
    url.searchParams.set("q", p.input.value.trim());
    const depends = p.root.dataset.depends;
    if (depends && p.input.form) {
      const other = p.input.form.querySelector('[name="' + depends + '"]');
      if (other && other.value) url.searchParams.set(depends, other.value);
    }
    const mine = ++seq;
    p.root.dataset.seq = String(mine);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : { results: [] }))
      .then((data) => {
        if (p.root.dataset.seq === String(mine) && document.activeElement === p.input) {
          render(p, data.results || []);
        }
      })
      .catch(() => {});
  }

  function schedule(p) {
    clearTimeout(p.root._pickerTimer);
    p.root._pickerTimer = setTimeout(() => search(p), DELAY);
  }

  document.addEventListener("focusin", (event) => {
    if (!event.target.matches || !event.target.matches("[data-picker-input]")) return;
    const p = parts(event.target);
    if (p.root.dataset.chosen === undefined) p.root.dataset.chosen = p.value.value ? p.input.value : "";
    schedule(p);
  });

  document.addEventListener("input", (event) => {
    if (!event.target.matches || !event.target.matches("[data-picker-input]")) return;
    const p = parts(event.target);
    if (p.input.value.trim() === "") clear(p);
    schedule(p);
  });

  document.addEventListener("keydown", (event) => {
    if (!event.target.matches || !event.target.matches("[data-picker-input]")) return;
    const p = parts(event.target);
    const count = options(p).length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (p.list.hidden) {
        search(p);
        return;
      }
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive(p, count ? (activeIndex(p) + step + count) % count : -1);
    } else if (event.key === "Enter") {
      if (!p.list.hidden) {
        event.preventDefault(); // choose, do not submit the form
        const index = activeIndex(p);
        if (index >= 0) choose(p, options(p)[index]);
      }
    } else if (event.key === "Escape") {
      const chosen = p.root.dataset.chosen || "";
      if (!p.list.hidden || p.input.value !== chosen) {
        event.preventDefault(); // (an open dialog or the browser would take it otherwise)
        clearTimeout(p.root._pickerTimer);
        p.root.dataset.seq = ""; // an answer still on its way is no longer wanted
        p.input.value = chosen;
        close(p);
      }
    }
  });

  // mousedown (not click): it comes before the input loses focus
  document.addEventListener("mousedown", (event) => {
    const item = event.target.closest ? event.target.closest("[data-picker-list] [role=option]") : null;
    if (!item) return;
    event.preventDefault();
    choose(parts(item), item);
  });

  document.addEventListener("focusout", (event) => {
    if (!event.target.matches || !event.target.matches("[data-picker-input]")) return;
    const p = parts(event.target);
    close(p);
    // a half-typed text is not a choice: show the chosen name again (or nothing)
    if (p.input.value.trim() === "") clear(p);
    else p.input.value = p.root.dataset.chosen || (p.value.value ? p.input.value : "");
  });

  // a picker that depends on another input (stage on pipeline) starts over when it changes
  document.addEventListener("change", (event) => {
    const name = event.target.name;
    if (!name || !event.target.form) return;
    event.target.form.querySelectorAll('[data-picker][data-depends="' + name + '"]').forEach((root) => {
      const p = parts(root);
      p.input.value = "";
      clear(p);
    });
  });
})();
