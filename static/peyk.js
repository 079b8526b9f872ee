// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Prepared answers: put the chosen text into the reply box.
  var picker = document.getElementById("canned-picker");
  var body = document.getElementById("reply-body");
  if (picker && body) {
    picker.addEventListener("change", function () {
      var option = picker.options[picker.selectedIndex];
      var text = option && option.getAttribute("data-body");
      if (text) {
        body.value = body.value ? body.value + "\n\n" + text : text;
        body.focus();
      }
      picker.selectedIndex = 0;
    });
  }
  // The language menu applies at once.
  var language = document.getElementById("language-select");
  if (language && language.form) {
    language.addEventListener("change", function () { language.form.submit(); });
  }
});
