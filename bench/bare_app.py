"""The reference for request rates: one FastAPI endpoint answering a small pydantic model,
with nothing of FileWallBall (no database, no middleware, no logging)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Status(BaseModel):
    status: str
    version: str


app = FastAPI()


@app.get("/health/live")
async def live() -> Status:
    return Status(status="ok", version="bare")
