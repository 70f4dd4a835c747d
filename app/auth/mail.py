"""Mail senders. The outbox collection records every mail (with only its token's hash); the
sender delivers the text, which is the only place a verify or reset token ever appears.

`MAIL_BACKEND=file` (default) writes each mail as a file under `MAIL_DIR` for development;
`memory` keeps them in the process (tests read them there). A production deployment plugs in
its SMTP or provider sender by implementing `send`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from app.settings import Settings


@dataclass
class Mail:
    to: str
    subject: str
    text: str


class MailSender(Protocol):
    async def send(self, mail: Mail) -> None: ...


@dataclass
class MemoryMailSender:
    sent: list[Mail] = field(default_factory=list)

    async def send(self, mail: Mail) -> None:
        self.sent.append(mail)


@dataclass
class FileMailSender:
    directory: Path
    counter: int = 0

    async def send(self, mail: Mail) -> None:
        self.counter += 1
        safe_to = re.sub(r"[^A-Za-z0-9@._-]", "_", mail.to)
        path = self.directory / f"{asyncio.get_running_loop().time():.6f}-{safe_to}.txt"
        text = f"To: {mail.to}\nSubject: {mail.subject}\n\n{mail.text}\n"
        await asyncio.to_thread(self._write, path, text)

    def _write(self, path: Path, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_mail_sender(settings: Settings) -> MailSender:
    if settings.mail_backend == "memory":
        return MemoryMailSender()
    return FileMailSender(Path(settings.mail_dir))
