"""The pages' words in Korean and English, and which of the two a visitor reads.

The pages' scripts get the same catalogue, so a message has one text in one place."""

from __future__ import annotations

from typing import Literal

Language = Literal["ko", "en"]
LANGUAGES: tuple[Language, ...] = ("ko", "en")
COOKIE = "fwb_lang"

MESSAGES: dict[Language, dict[str, str]] = {
    "en": {
        "site.name": "FileWallBall",
        "site.tagline": "Upload a file, get a link, share it.",
        "nav.upload": "Upload",
        "nav.browse": "Browse files",
        "nav.main": "Main",
        "skip": "Skip to content",
        "lang.switch": "한국어",
        "lang.switch_label": "Read this page in Korean",
        "theme.switch": "Switch light or dark",
        "theme.dark": "Dark",
        "theme.light": "Light",
        "key.title": "API key",
        "key.explain": "A key proves the files are yours. You need one to upload when this "
        "server does not accept anonymous uploads, to make a file private, to see your "
        "private files, and to delete or tag your files. It stays in this browser only.",
        "key.required": "This server accepts uploads only with an API key.",
        "key.label": "Your API key",
        "key.save": "Save key",
        "key.forget": "Forget key",
        "key.saved": "A key is saved in this browser.",
        "key.none": "No key saved.",
        "upload.title": "Share files",
        "upload.drop": "Drop files here",
        "upload.or": "or",
        "upload.pick": "Choose files",
        "upload.limit": "Up to {size} per file.",
        "upload.options": "Options",
        "upload.tags": "Tags",
        "upload.tags_hint": "Separated by commas, for example: photos, 2026",
        "upload.private": "Private: only my key can see it",
        "upload.private_hint": "Needs an API key.",
        "upload.expiry": "Link expires",
        "upload.expiry_never": "Never",
        "upload.expiry_hour": "After 1 hour",
        "upload.expiry_day": "After 1 day",
        "upload.expiry_week": "After 7 days",
        "upload.expiry_month": "After 30 days",
        "upload.max_downloads": "Download limit",
        "upload.max_downloads_hint": "Empty: no limit.",
        "upload.list": "Your uploads",
        "upload.cancel": "Cancel",
        "upload.pause": "Pause",
        "upload.resume": "Resume",
        "upload.waiting": "Waiting",
        "upload.resuming": "Resuming from {done}",
        "upload.paused": "Paused at {done}",
        "upload.cancelled": "Cancelled",
        "upload.progress": "{done} of {total} · {percent}% · {speed}/s",
        "upload.done": "Uploaded",
        "upload.link": "Share link",
        "upload.copy": "Copy link",
        "upload.copied": "Copied",
        "upload.open": "Open its page",
        "upload.qr": "QR code of the share link",
        "upload.private_done": "This file is private, so it has no page to share. Find it "
        "in Browse files with your key saved, or download it with your key.",
        "error.too_large": "The file is too large: the limit is {size}.",
        "error.400": "The upload was refused.",
        "error.401": "An API key is needed. Save your key above and try again.",
        "error.403": "You may not do this with this key.",
        "error.404": "The file does not exist (any more).",
        "error.408": "The upload stalled and was stopped.",
        "error.410": "This link has expired.",
        "error.413": "The file is too large.",
        "error.415": "This type of file is not accepted.",
        "error.422": "The file was refused.",
        "error.429": "Too many requests. Wait a moment and try again.",
        "error.503": "The service is busy or down. Try again shortly.",
        "error.network": "The connection was lost.",
        "error.other": "Something went wrong.",
        "error.storage": "This browser does not let the page keep track of a large upload "
        "(site data is blocked), so it cannot be sent. Allow this site to keep data and try "
        "again.",
        "share.size": "Size",
        "share.type": "Type",
        "share.uploaded": "Uploaded",
        "share.expires": "Link expires",
        "share.downloads_left": "Downloads left",
        "share.downloads_left_of": "{left} of {limit}",
        "share.tags": "Tags",
        "share.download": "Download",
        "share.preview": "Preview",
        "share.truncated": "Only the beginning is shown.",
        "share.no_preview": "No preview for this file.",
        "share.copy": "Copy link",
        "share.qr": "QR code of this page",
        "missing.title": "File not found",
        "missing.text": "There is no file at this link. It may have been deleted, or it is "
        "private and needs its owner's key.",
        "gone.title": "Link expired",
        "gone.text": "This file's link has expired or its downloads are used up.",
        "closed.title": "A key is needed",
        "closed.text": "This server shows files only to visitors with an API key. Ask its "
        "owner for one, or download the file with your key.",
        "missing.home": "Share a file",
        "browse.title": "Files",
        "browse.search": "Search by name",
        "browse.category": "Category",
        "browse.any_category": "All categories",
        "browse.tag": "Tag",
        "browse.apply": "Search",
        "browse.empty": "No files match.",
        "browse.page": "Page {page} of {pages}",
        "browse.previous": "Previous page",
        "browse.next": "Next page",
        "browse.delete": "Delete",
        "browse.confirm_delete": "Delete {name}? This cannot be undone.",
        "browse.deleted": "{name} was deleted.",
        "browse.edit_tags": "Edit tags",
        "browse.save_tags": "Save tags",
        "browse.tags_saved": "Tags saved.",
        "browse.tags_of": "Tags of {name}",
        "browse.private": "Private",
        "browse.loading": "Loading…",
        "browse.key_needed": "Browsing needs an API key on this server.",
    },
    "ko": {
        "site.name": "FileWallBall",
        "site.tagline": "파일을 올리고, 링크를 받아, 공유하세요.",
        "nav.upload": "업로드",
        "nav.browse": "파일 둘러보기",
        "nav.main": "주 메뉴",
        "skip": "본문으로 건너뛰기",
        "lang.switch": "English",
        "lang.switch_label": "이 페이지를 영어로 보기",
        "theme.switch": "밝은 테마와 어두운 테마 전환",
        "theme.dark": "어둡게",
        "theme.light": "밝게",
        "key.title": "API 키",
        "key.explain": "키는 파일이 내 것임을 증명합니다. 이 서버가 익명 업로드를 받지 않을 때 "
        "업로드하려면, 파일을 비공개로 하려면, 내 비공개 파일을 보려면, 내 파일을 삭제하거나 "
        "태그를 바꾸려면 키가 필요합니다. 키는 이 브라우저에만 저장됩니다.",
        "key.required": "이 서버는 API 키가 있어야 업로드할 수 있습니다.",
        "key.label": "내 API 키",
        "key.save": "키 저장",
        "key.forget": "키 지우기",
        "key.saved": "이 브라우저에 키가 저장되어 있습니다.",
        "key.none": "저장된 키가 없습니다.",
        "upload.title": "파일 공유",
        "upload.drop": "여기에 파일을 놓으세요",
        "upload.or": "또는",
        "upload.pick": "파일 선택",
        "upload.limit": "파일당 최대 {size}.",
        "upload.options": "옵션",
        "upload.tags": "태그",
        "upload.tags_hint": "쉼표로 구분합니다. 예: 사진, 2026",
        "upload.private": "비공개: 내 키로만 볼 수 있음",
        "upload.private_hint": "API 키가 필요합니다.",
        "upload.expiry": "링크 만료",
        "upload.expiry_never": "만료 없음",
        "upload.expiry_hour": "1시간 후",
        "upload.expiry_day": "1일 후",
        "upload.expiry_week": "7일 후",
        "upload.expiry_month": "30일 후",
        "upload.max_downloads": "다운로드 횟수 제한",
        "upload.max_downloads_hint": "비워 두면 제한 없음.",
        "upload.list": "내 업로드",
        "upload.cancel": "취소",
        "upload.pause": "일시 정지",
        "upload.resume": "이어 올리기",
        "upload.waiting": "대기 중",
        "upload.resuming": "{done}부터 이어 올리는 중",
        "upload.paused": "{done}에서 일시 정지됨",
        "upload.cancelled": "취소됨",
        "upload.progress": "{total} 중 {done} · {percent}% · {speed}/초",
        "upload.done": "업로드 완료",
        "upload.link": "공유 링크",
        "upload.copy": "링크 복사",
        "upload.copied": "복사됨",
        "upload.open": "페이지 열기",
        "upload.qr": "공유 링크의 QR 코드",
        "upload.private_done": "비공개 파일이라 공유할 페이지가 없습니다. 키를 저장한 채 "
        "파일 둘러보기에서 찾거나, 키로 내려받으세요.",
        "error.too_large": "파일이 너무 큽니다. 최대 {size}까지 올릴 수 있습니다.",
        "error.400": "업로드가 거부되었습니다.",
        "error.401": "API 키가 필요합니다. 위에 키를 저장하고 다시 시도하세요.",
        "error.403": "이 키로는 할 수 없는 작업입니다.",
        "error.404": "파일이 없거나 더 이상 존재하지 않습니다.",
        "error.408": "업로드가 멈춰서 중단되었습니다.",
        "error.410": "이 링크는 만료되었습니다.",
        "error.413": "파일이 너무 큽니다.",
        "error.415": "이 형식의 파일은 받지 않습니다.",
        "error.422": "파일이 거부되었습니다.",
        "error.429": "요청이 너무 많습니다. 잠시 후 다시 시도하세요.",
        "error.503": "서비스가 바쁘거나 중단되었습니다. 잠시 후 다시 시도하세요.",
        "error.network": "연결이 끊어졌습니다.",
        "error.other": "문제가 발생했습니다.",
        "error.storage": "이 브라우저가 큰 파일의 업로드 기록을 저장하지 못하게 해서(사이트 "
        "데이터 차단) 보낼 수 없습니다. 이 사이트의 데이터 저장을 허용하고 다시 시도하세요.",
        "share.size": "크기",
        "share.type": "형식",
        "share.uploaded": "올린 시각",
        "share.expires": "링크 만료",
        "share.downloads_left": "남은 다운로드",
        "share.downloads_left_of": "{limit}회 중 {left}회",
        "share.tags": "태그",
        "share.download": "다운로드",
        "share.preview": "미리 보기",
        "share.truncated": "앞부분만 보여 줍니다.",
        "share.no_preview": "이 파일은 미리 볼 수 없습니다.",
        "share.copy": "링크 복사",
        "share.qr": "이 페이지의 QR 코드",
        "missing.title": "파일을 찾을 수 없습니다",
        "missing.text": "이 링크에는 파일이 없습니다. 삭제되었거나, 소유자의 키가 필요한 "
        "비공개 파일일 수 있습니다.",
        "gone.title": "만료된 링크",
        "gone.text": "이 파일의 링크가 만료되었거나 다운로드 횟수를 모두 사용했습니다.",
        "closed.title": "키가 필요합니다",
        "closed.text": "이 서버는 API 키가 있는 방문자에게만 파일을 보여 줍니다. 운영자에게 키를 "
        "받거나, 키로 파일을 내려받으세요.",
        "missing.home": "파일 공유하기",
        "browse.title": "파일",
        "browse.search": "이름으로 검색",
        "browse.category": "분류",
        "browse.any_category": "모든 분류",
        "browse.tag": "태그",
        "browse.apply": "검색",
        "browse.empty": "조건에 맞는 파일이 없습니다.",
        "browse.page": "{pages}쪽 중 {page}쪽",
        "browse.previous": "이전 쪽",
        "browse.next": "다음 쪽",
        "browse.delete": "삭제",
        "browse.confirm_delete": "{name} 파일을 삭제할까요? 되돌릴 수 없습니다.",
        "browse.deleted": "{name} 파일을 삭제했습니다.",
        "browse.edit_tags": "태그 편집",
        "browse.save_tags": "태그 저장",
        "browse.tags_saved": "태그를 저장했습니다.",
        "browse.tags_of": "{name}의 태그",
        "browse.private": "비공개",
        "browse.loading": "불러오는 중…",
        "browse.key_needed": "이 서버에서 둘러보려면 API 키가 필요합니다.",
    },
}


def choose(asked: str | None, cookie: str | None, accept_language: str | None) -> Language:
    """An explicit choice (the switch's link), then the remembered one, then the browser's
    preference in its own order of quality; English when none names ko or en."""
    for given in (asked, cookie):
        if given in LANGUAGES:
            return given
    ranked: list[tuple[float, int, Language]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "en"


def human_size(size: int, language: Language) -> str:
    """Bytes as people read them: 1.5 MiB."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            break
        value /= 1024
    # "바이트" reads better than "B" for plain byte counts in Korean.
    if unit == "B":
        return f"{size} 바이트" if language == "ko" else f"{size} bytes"
    return f"{value:.1f} {unit}"
