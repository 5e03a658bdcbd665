// What every page has: the theme switch, the API key panel, copy buttons and local times.
import { language, t } from "./i18n.js";
import { apiKey, saveKey } from "./key.js";

const root = document.documentElement;
const themeSwitch = document.getElementById("theme-switch");
const dark = matchMedia("(prefers-color-scheme: dark)");

function currentTheme() {
  return root.dataset.theme || (dark.matches ? "dark" : "light");
}

function showTheme() {
  themeSwitch.setAttribute("aria-pressed", String(currentTheme() === "dark"));
}

themeSwitch.addEventListener("click", () => {
  const next = currentTheme() === "dark" ? "light" : "dark";
  root.dataset.theme = next;
  // A cookie, so that the server renders the next page in this theme without a flash.
  document.cookie = `fwb_theme=${next}; path=/; max-age=31536000; samesite=lax`;
  showTheme();
});
dark.addEventListener("change", showTheme);
showTheme();

// The language switch keeps the rest of the address (a search on /browse, say).
const langSwitch = document.getElementById("lang-switch");
langSwitch.addEventListener("click", (event) => {
  const url = new URL(location.href);
  url.searchParams.set("lang", langSwitch.hreflang);
  event.preventDefault();
  location.assign(url);
});

const keyInput = document.getElementById("api-key");
const keyState = document.getElementById("key-state");
function showKey() {
  keyState.textContent = apiKey() ? t("key.saved") : t("key.none");
}
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey(keyInput.value.trim());
  keyInput.value = "";
  showKey();
});
document.getElementById("key-forget").addEventListener("click", () => {
  saveKey("");
  showKey();
});
showKey();
if (document.getElementById("key-required") && !apiKey()) {
  document.getElementById("key-panel").open = true;
}

/** Copies the text of the input `field`; says so on `button` for a moment. */
export async function copy(field, button) {
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // No clipboard (an insecure origin): select the link for the visitor to copy.
    field.select();
    return;
  }
  const label = button.textContent;
  button.textContent = t("upload.copied");
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

for (const button of document.querySelectorAll("button[data-copies]")) {
  button.addEventListener("click", () => copy(document.getElementById(button.dataset.copies), button));
}

// Times are rendered in UTC; the visitor reads them in their own time zone.
for (const time of document.querySelectorAll("time[datetime]")) {
  time.textContent = new Date(time.dateTime).toLocaleString(language, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}
