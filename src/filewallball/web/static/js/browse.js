// The file list: search, filters and pages live in the address, so a view can be shared or
// reloaded; the list itself comes from the API with the visitor's key, so that it holds
// exactly what the API lets that visitor see.
import { size, t } from "./i18n.js";
import { apiKey, authorization, deleteTokens, forgetDeleteToken } from "./key.js";
import { request } from "./problems.js";

const PAGE_SIZE = 24;
const params = new URLSearchParams(location.search);
const status = document.getElementById("browse-status");
const grid = document.getElementById("files");
const card = document.getElementById("file-card");
const categorySelect = document.getElementById("category");
for (const name of ["q", "tag"]) document.getElementById(name).value = params.get(name) || "";

async function loadCategories() {
  try {
    const categories = await (await request("/categories", { headers: authorization() })).json();
    for (const category of categories) {
      categorySelect.add(new Option(category.name, category.name));
    }
  } catch {
    // Without categories the filter offers "all" only; the list says what went wrong.
  }
  categorySelect.value = params.get("category") || "";
}

function pageUrl(page) {
  const next = new URLSearchParams(params);
  next.set("page", String(page));
  return `?${next}`;
}

/** A thumbnail: a plain <img> for a public file; a private one is fetched with the key. */
async function showThumbnail(link, file) {
  const img = document.createElement("img");
  img.alt = "";
  img.loading = "lazy";
  const url = `/thumbnails/${encodeURIComponent(file.file_id)}?size=small`;
  if (file.is_public) {
    img.src = url;
  } else {
    try {
      img.src = URL.createObjectURL(await (await request(url, { headers: authorization() })).blob());
    } catch {
      return;
    }
  }
  link.replaceChildren(img);
}

function showTags(list, tags) {
  list.replaceChildren(
    ...tags.map((tag) => {
      const item = document.createElement("li");
      item.textContent = tag;
      return item;
    }),
  );
}

function render(file) {
  const node = card.content.firstElementChild.cloneNode(true);
  const share = `/s/${encodeURIComponent(file.file_id)}`;
  const find = (selector) => node.querySelector(selector);
  node.dataset.fileId = file.file_id;
  find(".thumb").href = share;
  find(".file-icon").textContent = (file.extension || file.category).slice(0, 5).toUpperCase();
  if (file.thumbnail_url) showThumbnail(find(".thumb"), file);
  find(".name").href = share;
  find(".name").textContent = file.filename;
  find(".size").textContent = size(file.size);
  find(".private").hidden = file.is_public;
  showTags(find(".tags"), file.tags);

  const token = deleteTokens()[file.file_id];
  const remove = find(".delete");
  remove.hidden = !(apiKey() || token);
  remove.setAttribute("aria-label", `${t("browse.delete")}: ${file.filename}`);
  remove.addEventListener("click", async () => {
    if (!confirm(t("browse.confirm_delete", { name: file.filename }))) return;
    const headers = { ...authorization(), ...(token ? { "X-Delete-Token": token } : {}) };
    try {
      await request(`/files/${encodeURIComponent(file.file_id)}`, { method: "DELETE", headers });
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    forgetDeleteToken(file.file_id);
    node.remove();
    status.textContent = t("browse.deleted", { name: file.filename });
  });

  // Changing tags is the owner's: it needs the key.
  const edit = find(".edit-tags");
  const form = find(".tag-form");
  const input = find(".tag-input");
  input.id = `tags-${file.file_id}`;
  find(".tag-label").htmlFor = input.id;
  find(".tag-label").textContent = t("browse.tags_of", { name: file.filename });
  edit.hidden = !apiKey();
  edit.setAttribute("aria-label", `${t("browse.edit_tags")}: ${file.filename}`);
  edit.addEventListener("click", () => {
    form.hidden = !form.hidden;
    edit.setAttribute("aria-expanded", String(!form.hidden));
    input.value = file.tags.join(", ");
    if (!form.hidden) input.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tags = input.value.split(",").map((tag) => tag.trim()).filter(Boolean);
    try {
      const answer = await request(`/files/${encodeURIComponent(file.file_id)}/tags`, {
        method: "PUT",
        headers: { ...authorization(), "Content-Type": "application/json" },
        body: JSON.stringify({ tags }),
      });
      file.tags = (await answer.json()).tags;
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    showTags(find(".tags"), file.tags);
    form.hidden = true;
    edit.setAttribute("aria-expanded", "false");
    status.textContent = t("browse.tags_saved");
    edit.focus();
  });
  return node;
}

async function load() {
  const query = new URLSearchParams({ page: params.get("page") || "1", size: String(PAGE_SIZE) });
  for (const name of ["q", "category", "tag"]) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  status.textContent = t("browse.loading");
  let page;
  try {
    page = await (await request(`/files?${query}`, { headers: authorization() })).json();
  } catch (error) {
    status.textContent = error.status === 401 ? t("browse.key_needed") : error.message;
    if (error.status === 401) document.getElementById("key-panel").open = true;
    grid.replaceChildren();
    return;
  }
  grid.replaceChildren(...page.items.map(render));
  status.textContent = page.total === 0 ? t("browse.empty") : "";
  const pages = document.getElementById("pages");
  pages.hidden = page.pages <= 1;
  document.getElementById("page-of").textContent = t("browse.page", { page: page.page, pages: page.pages });
  const previous = document.getElementById("previous");
  const following = document.getElementById("next");
  previous.hidden = page.page <= 1;
  previous.href = pageUrl(page.page - 1);
  following.hidden = page.page >= page.pages;
  following.href = pageUrl(page.page + 1);
}

document.addEventListener("fwb:key", load);
loadCategories();
load();
