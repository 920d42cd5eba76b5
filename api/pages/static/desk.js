// Enhancements only: every page works without this file.
// Picking a candidate for an unknown or ambiguous name also fills the field it belongs to.
document.addEventListener("change", function (event) {
  var radio = event.target;
  if (radio && radio.matches && radio.matches("input[type=radio][data-fills]")) {
    var field = document.getElementById(radio.getAttribute("data-fills"));
    if (field && field.name !== "co_speakers") { field.value = radio.value; }
  }
});
