/* The web chat's own script, all optional (every page works without JavaScript):
   after htmx puts the next question in place, move the focus to it and announce it in the
   polite live region; and a 朗读 (read aloud) button where the browser can speak. */
(function () {
  "use strict";

  function announce(root) {
    var live = document.getElementById("live");
    var news = root.querySelectorAll("[data-announce]");
    if (!live) return;
    var parts = [];
    for (var i = 0; i < news.length; i += 1) parts.push(news[i].textContent.trim());
    live.textContent = parts.join(" ");
  }

  function focusQuestion(root) {
    var question = root.querySelector("#question");
    if (question) question.focus();
  }

  function readAloud(root) {
    var buttons = root.querySelectorAll(".read-aloud");
    if (!("speechSynthesis" in window) || typeof SpeechSynthesisUtterance === "undefined") return;
    for (var i = 0; i < buttons.length; i += 1) {
      var button = buttons[i];
      button.hidden = false;
      button.addEventListener("click", function (event) {
        var target = document.getElementById(event.currentTarget.getAttribute("data-read"));
        if (!target) return;
        var utterance = new SpeechSynthesisUtterance(target.textContent.trim());
        utterance.lang = document.documentElement.lang || "zh-Hans";
        window.speechSynthesis.cancel();
        window.speechSynthesis.speak(utterance);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    readAloud(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var chat = document.getElementById("chat");
    if (!chat) return;
    readAloud(chat);
    announce(chat);
    focusQuestion(chat);
  });
})();
