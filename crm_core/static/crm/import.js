// the import wizard: changing the encoding reads the file again (the preview shows the new text)
document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-reread]");
  if (select) select.form.submit();
});
