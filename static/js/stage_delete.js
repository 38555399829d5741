// The stage deletion page: the button names the stage the leads will move to.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("id_move_to");
  const button = document.getElementById("move-and-delete");
  if (!select || !button) return;
  const label = () => {
    const option = select.selectedOptions[0];
    const name = option ? option.dataset.name || option.textContent : "";
    button.value = button.dataset.before + name + button.dataset.after;
  };
  select.addEventListener("change", label);
  label();
});
