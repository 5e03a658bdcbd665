// The page's words, as the server chose them (a JSON block in the page), and numbers in them.
const messages = JSON.parse(document.getElementById("messages").textContent);
export const language = document.documentElement.lang;

/** The message `key`, with each {name} replaced by values[name]. */
export function t(key, values = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** Bytes as people read them, as the server writes them. */
export function size(bytes) {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return language === "ko" ? `${bytes} 바이트` : `${bytes} bytes`;
  let value = bytes;
  let unit = "B";
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}
