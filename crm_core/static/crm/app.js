// Behaviour the workbench templates ask for with data- attributes (no inline script: the pages
// carry a Content-Security-Policy without 'unsafe-inline').
//   <select data-autosubmit>            submits its form when changed
//   <form data-confirm="Delete?">       asks before submitting
//   <input type=checkbox data-select-all="input[name=ids]">  checks/unchecks the matching boxes
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches && target.matches("[data-autosubmit]") && target.form) {
    target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
  }
});

document.addEventListener("click", (event) => {
  const box = event.target.closest ? event.target.closest("[data-select-all]") : null;
  if (box) {
    document.querySelectorAll(box.dataset.selectAll).forEach((c) => { c.checked = box.checked; });
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
