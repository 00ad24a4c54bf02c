# drydock's event stream: one JSON line per play, task start and host result, written to
# stderr behind a marker so drydock reads Ansible's own events instead of its human output
# (which a user's ansible.cfg may reshape). Written to a private folder by drydock at run time.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: drydock_events
    type: notification
    short_description: JSON events for drydock
    description: One JSON line per play, task start and host result, on stderr.
"""

import json
import os
import sys

from ansible.plugins.callback import CallbackBase

MARKER = "\x1edrydock-event "


def _where(obj):
    path = ""
    try:
        path = obj.get_path() or ""
    except Exception:
        pass
    file_name, _, line = path.rpartition(":")
    try:
        return file_name, int(line)
    except ValueError:
        return path, 0


def _message(result):
    for key in ("msg", "stderr", "module_stderr", "reason"):
        value = result.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if result.get("results"):
        for item in result["results"]:
            if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
                message = _message(item)
                if message:
                    return message
    return ""


# Bounds on what a failure carries: enough to say why, never a whole log.
TAIL_LINES = 20
TAIL_CHARS = 4000


def _text(value):
    if isinstance(value, list):
        value = "\n".join(str(v) for v in value)
    if not isinstance(value, str):
        return ""
    return value.strip()


def _tail(value):
    text = _text(value)
    if not text:
        return None
    text = "\n".join(text.splitlines()[-TAIL_LINES:])
    return text[-TAIL_CHARS:]


def _head(value):
    text = _text(value)
    if not text:
        return None
    text = "\n".join(text.splitlines()[:TAIL_LINES])
    return text[:TAIL_CHARS]


def _detail(result):
    """What a failed result says beyond its message: the command, its exit code and output,
    the module's own stderr and exception. A failed loop item says more than the loop."""
    for item in result.get("results") or []:
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            return _detail(item)
    detail = {}
    rc = result.get("rc")
    if isinstance(rc, int) and not isinstance(rc, bool):
        detail["rc"] = rc
    cmd = result.get("cmd")
    if isinstance(cmd, list):
        cmd = " ".join(str(c) for c in cmd)
    if isinstance(cmd, str) and cmd.strip():
        detail["cmd"] = cmd.strip()[:TAIL_CHARS]
    for key in ("stderr", "stdout"):
        value = _tail(result.get(key))
        if value:
            detail[key] = value
    value = _head(result.get("module_stderr"))
    if value:
        detail["module_stderr"] = value
    # A traceback ends with the error: keep its last lines.
    value = _tail(result.get("exception"))
    if value:
        detail["exception"] = "\n".join(value.splitlines()[-6:])
    return detail


# Whether to say which paths each change wrote (drydock turns it off only to measure its cost).
RECORD_WRITES = os.environ.get("DRYDOCK_RECORD_WRITES", "1") != "0"
# Modules that fill the folder at `dest` whole: every path under it is theirs.
TREE_MODULES = ("unarchive", "git", "subversion")
# Bound on the `--diff` text of one result.
DIFF_CHARS = 8000


def _absolute(value):
    return value if isinstance(value, str) and value.startswith("/") else None


def _written(task, res):
    """The paths a changed result wrote: its `dest` or `path` (as the result or the module's
    arguments give it), a command's `creates`/`removes`; per changed loop item. Modules that
    fill a folder give the folder, as a tree."""
    items = [r for r in (res.get("results") or []) if isinstance(r, dict) and r.get("changed")]
    if not items:
        items = [res]
    action = (getattr(task, "action", "") or "").rsplit(".", 1)[-1]
    paths, trees = [], []
    for item in items:
        args = (item.get("invocation") or {}).get("module_args") or {}
        found = None
        for key in ("dest", "path"):
            found = _absolute(item.get(key)) or _absolute(args.get(key))
            if found:
                break
        extra = [_absolute(args.get(key)) for key in ("creates", "removes")]
        target = trees if action in TREE_MODULES else paths
        for path in [found] + extra:
            if path and path not in target:
                target.append(path)
    return paths, trees


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "drydock_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._play = None

    def _emit(self, **event):
        try:
            sys.stderr.write(MARKER + json.dumps(event, default=str) + "\n")
            sys.stderr.flush()
        except Exception:
            pass

    def _task(self, task):
        file_name, line = _where(task)
        role = None
        if getattr(task, "_role", None) is not None:
            try:
                role = task._role.get_name()
            except Exception:
                role = None
        return {"task": task.get_name().strip(), "file": file_name, "line": line, "role": role}

    def v2_playbook_on_play_start(self, play):
        file_name, line = _where(play)
        pattern = play.hosts
        if isinstance(pattern, list):
            pattern = ",".join(str(p) for p in pattern)
        self._play = {"play": play.get_name().strip(), "pattern": pattern, "file": file_name, "line": line}
        self._emit(event="play_start", **self._play)

    def v2_playbook_on_no_hosts_matched(self):
        self._emit(event="no_hosts_matched", **(self._play or {}))

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit(event="task_start", handler=False, **self._task(task))

    def v2_playbook_on_handler_task_start(self, task):
        self._emit(event="task_start", handler=True, **self._task(task))

    def _result(self, status, result, **extra):
        event = self._task(result._task)
        event.update(extra)
        host = result._host.get_name() if result._host is not None else ""
        res = result._result if isinstance(result._result, dict) else {}
        if status in ("failed", "unreachable"):
            event["detail"] = _detail(res)
        if status == "changed" and RECORD_WRITES:
            paths, trees = _written(result._task, res)
            if paths:
                event["paths"] = paths
            if trees:
                event["trees"] = trees
            diff = self._diff_text(res)
            if diff:
                event["diff"] = diff
        self._emit(event="result", status=status, host=host, msg=_message(res)[:TAIL_CHARS], **event)

    def _diff_text(self, res):
        """What `--diff` shows of a changed result (and of its changed loop items)."""
        diffs = [res.get("diff")] + [
            item.get("diff")
            for item in (res.get("results") or [])
            if isinstance(item, dict) and item.get("changed")
        ]
        text = ""
        for diff in diffs:
            if not diff:
                continue
            try:
                text += self._get_diff(diff)
            except Exception:
                pass
        text = text.strip()
        return text[:DIFF_CHARS] if text else None

    def v2_runner_on_ok(self, result):
        changed = bool(result._result.get("changed", False)) if isinstance(result._result, dict) else False
        self._result("changed" if changed else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result, ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            hosts[host] = {
                "ok": summary.get("ok", 0),
                "changed": summary.get("changed", 0),
                "failed": summary.get("failures", 0),
                "unreachable": summary.get("unreachable", 0),
                "skipped": summary.get("skipped", 0),
                "ignored": summary.get("ignored", 0),
            }
        self._emit(event="stats", hosts=hosts)
