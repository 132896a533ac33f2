"""slurmrestd (OpenAPI v0.0.38) with JWT: submit, query, cancel.

Tokens: with the cluster's JWT key (``AuthAltParameters=jwt_key=...``) the platform signs a
short-lived HS256 token for the user each request acts for (claims ``sun``, ``iat``, ``exp``),
so every job runs as its submitter; with a fixed token instead, every request acts as that
token's user.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jwt

from aisc.slurm import hosts
from aisc.slurm.commands import parse_tres
from aisc.slurm.types import JobSpec, SlurmJob, SlurmUnavailable, failure

VERSION = "v0.0.38"
TOKEN_LIFESPAN_S = 600


class Tokens:
    """Bearer tokens for slurmrestd, per user."""

    def __init__(
        self,
        *,
        key_file: Path | None = None,
        token: str | None = None,
        token_user: str | None = None,
    ) -> None:
        if key_file is None and token is None:
            raise ValueError("slurmrestd needs a JWT key file or a token")
        self.key_file, self.token, self.token_user = key_file, token, token_user
        self._cache: dict[str, tuple[str, float]] = {}

    def user_for(self, user: str | None) -> str:
        if self.key_file is None:
            return self.token_user or user or "root"
        return user or "root"

    def header(self, user: str | None) -> dict[str, str]:
        name = self.user_for(user)
        if self.key_file is None:
            assert self.token is not None
            return {"X-SLURM-USER-NAME": name, "X-SLURM-USER-TOKEN": self.token}
        cached = self._cache.get(name)
        now = time.time()
        if cached is None or cached[1] - now < 60:
            try:
                key = self.key_file.read_bytes()
            except OSError as exc:
                raise SlurmUnavailable(
                    f"Slurm is unavailable: cannot read the JWT key {self.key_file}: {exc.strerror}"
                ) from exc
            issued = int(now)
            token = jwt.encode(
                {"sun": name, "iat": issued, "exp": issued + TOKEN_LIFESPAN_S},
                key,
                algorithm="HS256",
            )
            cached = (token, issued + TOKEN_LIFESPAN_S)
            self._cache[name] = cached
        return {"X-SLURM-USER-NAME": name, "X-SLURM-USER-TOKEN": cached[0]}


class SlurmRest:
    """A slurmrestd client."""

    def __init__(self, base_url: str, tokens: Tokens, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.timeout_s = timeout_s

    def close(self) -> None:
        """Nothing held open: each request has its own connection (slurmrestd is local)."""

    def _request(
        self, method: str, path: str, *, user: str | None = None, body: Any = None
    ) -> dict[str, Any]:
        url = f"{self.base_url}/slurm/{VERSION}/{path}"
        try:
            with httpx.Client(timeout=self.timeout_s) as http:
                response = http.request(method, url, json=body, headers=self.tokens.header(user))
        except httpx.HTTPError as exc:
            raise SlurmUnavailable(f"Slurm is unavailable: slurmrestd: {exc}") from exc
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            data = {}
        errors = [e for e in data.get("errors", []) if isinstance(e, dict)]
        if response.status_code >= 400 or (errors and "job_id" not in data and path != "jobs"):
            words = "; ".join(str(e.get("error") or e.get("description") or e) for e in errors)
            words = words or data.get("error") or response.text[:200] or str(response.status_code)
            if response.status_code in (401, 403):
                raise SlurmUnavailable(
                    f"Slurm is unavailable: slurmrestd refused the token: {words}"
                )
            raise failure(str(words))
        return data

    def ping(self) -> None:
        data = self._request("GET", "ping")
        if not any(p.get("ping") == "UP" for p in data.get("pings", [])):
            raise SlurmUnavailable("Slurm is unavailable: the controller does not answer")

    def submit(self, spec: JobSpec) -> str:
        job: dict[str, Any] = {
            "name": spec.name,
            "account": spec.account,
            "partition": spec.partition,
            # v0.0.38 takes the node count as a string (an integer array is silently ignored).
            "nodes": str(spec.nodes),
            "tasks_per_node": 1,
            "time_limit": spec.time_limit_min,
            "current_working_directory": spec.workdir,
            "standard_output": spec.stdout,
            "standard_error": spec.stderr,
            "environment": spec.environment,
        }
        if spec.gres:
            job["gres"] = spec.gres
        if spec.qos:
            job["qos"] = spec.qos
        if spec.reservation:
            job["reservation"] = spec.reservation
        data = self._request(
            "POST", "job/submit", user=spec.user, body={"script": spec.script(), "job": job}
        )
        return str(data["job_id"])

    def jobs(self) -> list[SlurmJob]:
        """Every job the controller holds."""
        return [_job(item) for item in self._request("GET", "jobs").get("jobs", [])]

    def gpu_indices(self, job_id: str) -> dict[str, tuple[int, ...]]:
        from aisc.slurm.commands import parse_gpu_indices

        found: dict[str, tuple[int, ...]] = {}
        for item in self._request("GET", f"job/{job_id}").get("jobs", []):
            nodes = hosts.expand(str(item.get("nodes") or ""))
            for name, detail in zip(nodes, item.get("gres_detail") or [], strict=False):
                found.update(parse_gpu_indices(f"Nodes={name} GRES={detail}"))
        return found

    def cancel(self, job_id: str, *, user: str | None = None) -> None:
        self._request("DELETE", f"job/{job_id}", user=user)


def _job(item: dict[str, Any]) -> SlurmJob:
    gpus, gpu_type = parse_tres(str(item.get("tres_alloc_str") or ""))
    state = str(item.get("job_state") or "")
    start = int(item.get("start_time") or 0) or None
    end = int(item.get("end_time") or 0) or None
    return SlurmJob(
        job_id=str(item.get("job_id")),
        name=str(item.get("name") or ""),
        account=str(item.get("account") or ""),
        user=str(item.get("user_name") or ""),
        state=state,
        reason=str(item.get("state_reason") or "").replace("None", ""),
        nodes=tuple(hosts.expand(str(item.get("nodes") or ""))),
        submit=int(item.get("submit_time") or 0) or None,
        start=start if state != "PENDING" else None,
        end=end if state not in ("PENDING", "RUNNING") else None,
        gpus=gpus,
        gpu_type=gpu_type,
        partition=str(item.get("partition") or ""),
    )
