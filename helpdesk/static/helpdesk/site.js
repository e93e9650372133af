// Behaviour shared by every page (no inline handlers: Content-Security-Policy).
// The language menu submits its form as soon as a language is chosen; without
// JavaScript the form's own button does it.
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.id === "lang-select" && select.form) {
    select.form.submit();
  }
});
