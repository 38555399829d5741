// The stage deletion page: the button names the stage the leads will move to. Its words
// come from the page (data-label, in the page's language), "{target}" standing for the stage.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("id_move_to");
  const button = document.getElementById("move-and-delete");
  if (!select || !button || !button.dataset.label) return;
  const label = () => {
    const option = select.selectedOptions[0];
    const name = option ? option.dataset.name || option.textContent : "";
    button.value = button.dataset.label.split("{target}").join(name);
  };
  select.addEventListener("change", label);
  label();
});
