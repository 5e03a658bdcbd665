// The visitor's API key, kept in this browser only and sent as a bearer token.
const STORE = "fwb_key";

export function apiKey() {
  return localStorage.getItem(STORE) || "";
}

export function saveKey(key) {
  if (key) localStorage.setItem(STORE, key);
  else localStorage.removeItem(STORE);
  document.dispatchEvent(new CustomEvent("fwb:key"));
}

/** Headers that identify the visitor, when a key is saved. */
export function authorization() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// Anonymous uploads get a one-time delete code; kept here, it lets this browser delete them.
const TOKENS = "fwb_delete_tokens";

export function deleteTokens() {
  try {
    return JSON.parse(localStorage.getItem(TOKENS) || "{}");
  } catch {
    return {};
  }
}

export function rememberDeleteToken(fileId, token) {
  localStorage.setItem(TOKENS, JSON.stringify({ ...deleteTokens(), [fileId]: token }));
}

export function forgetDeleteToken(fileId) {
  const tokens = deleteTokens();
  delete tokens[fileId];
  localStorage.setItem(TOKENS, JSON.stringify(tokens));
}
