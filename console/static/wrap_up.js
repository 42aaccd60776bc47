// The agent's wrap-up after resolving a conversation (docs/metrics.md, Agents): the
// "完成整理 / Finish wrap-up" button, shown once console.js reports the resolve, ends
// it over the API. Housekeeping ends it anyway after WRAP_UP_MAX_SECONDS; the button
// then meets 409 no_wrap_up and simply goes away.
(function () {
  "use strict";
  const box = document.getElementById("wrap-up");
  const button = document.getElementById("wrap-up-finish");
  const csrf = document.getElementById("console-data").dataset.csrf;
  let conversationId = null;

  document.addEventListener("console:resolved", function (event) {
    conversationId = event.detail.conversationId;
    box.hidden = false;
    button.disabled = false;
  });

  button.addEventListener("click", async function () {
    if (conversationId === null) { return; }
    button.disabled = true;
    const response = await fetch("/api/v1/conversations/" + conversationId + "/wrap-up", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    });
    // Finished now, or already (409): either way there is nothing left to finish.
    if (response.ok || response.status === 409) {
      box.hidden = true;
      conversationId = null;
    } else {
      button.disabled = false;
    }
  });
})();
