"""Write a planned synthetic organisation in the CERT layout (r4.2 or r5.2), one day at a time.

Each day's rows of each file are built as numpy arrays from the users' habits, joined with the
planted events of that day, sorted by time, and appended with Arrow's CSV writer, so memory
holds one day whatever the organisation's size. Rows of planted insider events are collected
for the answer files as they are written (their ids are only known then).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from hrsignal.evaluation.prepare import DEFAULT_HEADERS, TABLES
from hrsignal.evaluation.synth_plan import DEPARTMENTS, JOB_SITES, Org, Planted

if TYPE_CHECKING:
    from hrsignal.evaluation.synth import SynthConfig

_ATTACHMENTS = pa.array(
    ["", "C:\\plan.pdf(81234)", "C:\\plan.pdf(81234);C:\\x.zip(2001)", "a.doc(1);b.doc(2);c.doc(3)"]
)
_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "report",
    "design",
    "budget",
    "market",
    "circuit",
    "sensor",
    "launch",
    "review",
    "project",
    "contract",
    "supply",
    "quality",
    "vendor",
    "plan",
]
_EXTERNAL = ("gmail.com", "yahoo.com", "hotmail.com", "raytheon.com", "boeing.com", "harris.com")
_COMMON_SITES = ("google.com", "msn.com", "yahoo.com", "bbc.co.uk", "espn.com", "weather.com")
_CLOUD_SITES = ("dropbox.com", "drive.google.com")
_FMT = "%m/%d/%Y %H:%M:%S"


class _Pools:
    """Strings drawn by index, so bulk columns are Arrow ``take``s instead of Python loops."""

    def __init__(self, org: Org, config: SynthConfig, rng: np.random.Generator) -> None:
        words = np.array(_WORDS)
        self.content = pa.array(
            [" ".join(rng.choice(words, config.content_words)) for _ in range(2048)]
        )
        made_up = [f"{rng.choice(words)}{rng.choice(words)}{k}.com" for k in range(400)]
        domains = list(_COMMON_SITES) + made_up + list(JOB_SITES) + list(_CLOUD_SITES)
        self.domains = pa.array(domains)
        weights = np.r_[
            np.full(len(_COMMON_SITES), 20.0),
            np.ones(len(made_up)),
            np.full(len(JOB_SITES), 0.15),  # everyone glances at a job site now and then
            np.full(len(_CLOUD_SITES), 0.3),
        ]
        self.domain_p = weights / weights.sum()
        self.words = pa.array(_WORDS)
        externals = [
            f"{org.names[i].split()[0]}.{org.names[i].split()[2]}@{_EXTERNAL[i % len(_EXTERNAL)]}"
            for i in range(org.users)
        ]
        self.n_internal = org.users
        self.addresses = pa.array(org.emails + externals)
        self.emails = pa.array(org.emails)
        self.ids = pa.array(org.ids)
        self.pcs = pa.array([f"PC-{(7919 * i) % 10000:04d}" for i in range(org.users)])
        self.files = pa.array(
            [f"R:\\{org.ids[i % org.users][:3]}{i}\\{rng.choice(words)}.doc" for i in range(1024)]
        )


class _Out:
    """One CSV file being written: header once, then day chunks, optionally with CRLF."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self.stream: BinaryIO = path.open("wb")
        self.stream.write((",".join(header) + "\n").encode())
        self.rows = 0

    def write(self, chunk: pa.Table, *, crlf: bool = False) -> None:
        """Append one day's rows (without header)."""
        if chunk.num_rows == 0:
            return
        buf = io.BytesIO()
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(chunk, buf, write_options=options)
        data = buf.getvalue()
        self.stream.write(data.replace(b"\n", b"\r\n") if crlf else data)
        self.rows += chunk.num_rows


def write_org(
    path: Path, org: Org, config: SynthConfig, rng: np.random.Generator
) -> dict[str, int]:
    """Write every file of ``org`` into ``path``; return the row count of each activity file."""
    pools = _Pools(org, config, rng)
    headers = DEFAULT_HEADERS[config.layout]
    outs = {t: _Out(path / f"{t}.csv", headers[t]) for t in TABLES}
    planted: dict[int, list[Planted]] = defaultdict(list)
    for ev in org.planted:
        planted[ev.day].append(ev)
    answers: dict[int, list[tuple[int, str]]] = defaultdict(list)
    counters = dict.fromkeys(TABLES, 0)
    epoch0 = (org.start - dt.date(1970, 1, 1)).days * 86400
    try:
        for day in range(org.days):
            base = _base_day(org, pools, config, rng, day)
            for table in TABLES:
                extra = [ev for ev in planted.get(day, []) if ev.table == table]
                chunk, tags, times = _chunk(
                    table, base[table], extra, pools, epoch0 + day * 86400, counters, rng, config
                )
                if config.layout == "r5.2":
                    chunk = _to_r52(table, chunk)
                # quirk: device.csv was exported in two halves, the first with CRLF endings
                crlf = config.quirks and table == "device" and day < org.days // 2
                outs[table].write(chunk, crlf=crlf)
                _collect_answers(table, chunk, tags, times, answers)
    finally:
        for out in outs.values():
            out.stream.close()
    _write_ldap(path, org, config)
    _write_answers(path, org, config, answers)
    return {t: o.rows for t, o in outs.items()}


def _base_day(
    org: Org, pools: _Pools, config: SynthConfig, rng: np.random.Generator, day: int
) -> dict[str, dict[str, np.ndarray]]:
    """The habitual activity of everyone present on ``day`` (seconds after midnight)."""
    n = org.users
    workday = org.is_workday(day)
    present = org.employed(day) & (rng.random(n) < (0.96 if workday else 0.03))
    present |= org.lwd == day  # leavers work on their last day
    users = np.flatnonzero(present)
    on = (org.start_hour[users] + rng.normal(0, 0.25, users.size)) * 3600
    off = on + (org.work_hours[users] + rng.normal(0, 0.3, users.size)) * 3600
    late = org.after_hours[users] & (rng.random(users.size) < 0.15)
    late_on = rng.uniform(20.0, 22.0, int(late.sum())) * 3600
    logon = {
        "t": np.r_[on, off, late_on, late_on + 1800],
        "u": np.r_[users, users, users[late], users[late]],
        "k": np.r_[
            np.zeros(users.size), np.ones(users.size), np.zeros(late.sum()), np.ones(late.sum())
        ],
    }

    def events(rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = rng.poisson(rate * (1.0 if workday else 0.3))
        who = np.repeat(users, counts)
        start, length = np.repeat(on, counts), np.repeat(off - on, counts)
        return who, start + rng.random(who.size) * length

    http_u, http_t = events(org.http_rate[users])
    mail_u, mail_t = events(org.email_rate[users])
    usb_u, usb_t = events(org.usb_rate[users])
    per = rng.poisson(org.files_per_connect[usb_u])
    file_u = np.repeat(usb_u, per)
    file_t = np.repeat(usb_t, per) + 60 + 30 * _ranks(per)
    return {
        "logon": logon,
        "device": {
            "t": np.r_[usb_t, usb_t + 90 + 30 * per],
            "u": np.r_[usb_u, usb_u],
            "k": np.r_[np.zeros(usb_u.size), np.ones(usb_u.size)],
        },
        "file": {"t": file_t, "u": file_u},
        "http": {"t": http_t, "u": http_u},
        "email": {"t": mail_t, "u": mail_u},
    }


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each count c, concatenated."""
    if counts.sum() == 0:
        return np.zeros(0)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    ranks: np.ndarray = np.arange(int(counts.sum())) - starts
    return ranks


def _chunk(
    table: str,
    base: dict[str, np.ndarray],
    extra: list[Planted],
    pools: _Pools,
    midnight: int,
    counters: dict[str, int],
    rng: np.random.Generator,
    config: SynthConfig,
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """One day of one file as an Arrow table in time order, with the tag of each row."""
    nb = base["u"].size
    seconds = np.r_[base["t"].astype(np.int64), [e.second for e in extra]].astype(np.int64)
    users = np.r_[base["u"], [e.user for e in extra]].astype(np.int64)
    pcs = np.r_[base["u"], [e.pc for e in extra]].astype(np.int64)
    tags = np.r_[np.full(nb, -1), [e.tag for e in extra]].astype(np.int64)
    order = np.argsort(seconds, kind="stable")
    seconds, users, pcs, tags = seconds[order], users[order], pcs[order], tags[order]
    n = seconds.size
    first = counters[table]
    counters[table] += n
    stamps = pa.array(midnight + seconds, type=pa.timestamp("s"))
    dates = pc.strftime(stamps, format=_FMT)
    if config.quirks and table in ("logon", "file") and n:
        dates = _unpad_some(dates, stamps, rng)
    numbers = pc.cast(pa.array(np.arange(first, first + n)), pa.string())
    ids = pc.binary_join_element_wise(
        "{" + table[0].upper(), pc.utf8_lpad(numbers, 10, "0"), "}", ""
    )
    cols: dict[str, pa.Array] = {
        "id": ids,
        "date": dates,
        "user": pools.ids.take(pa.array(users)),
        "pc": pools.pcs.take(pa.array(pcs)),
    }
    cols.update(_payload(table, nb, base, extra, order, pools, rng))
    return pa.table(cols), tags, midnight + seconds


def _merge(base: pa.Array, extra: list[str], order: np.ndarray) -> pa.Array:
    return pa.concat_arrays([base, pa.array(extra, pa.string())]).take(pa.array(order))


def _payload(
    table: str,
    nb: int,
    base: dict[str, np.ndarray],
    extra: list[Planted],
    order: np.ndarray,
    pools: _Pools,
    rng: np.random.Generator,
) -> dict[str, pa.Array]:
    """The columns after ``pc`` for one day of ``table``."""
    n = nb + len(extra)
    content = pools.content.take(pa.array(rng.integers(0, len(pools.content), n)))
    if table in ("logon", "device"):
        names = ("Logon", "Logoff") if table == "logon" else ("Connect", "Disconnect")
        base_acts = pa.array(np.array(names)[base["k"].astype(np.int64)].tolist(), pa.string())
        return {"activity": _merge(base_acts, [e.a for e in extra], order)}
    if table == "file":
        base_names = pools.files.take(pa.array(rng.integers(0, len(pools.files), nb)))
        return {"filename": _merge(base_names, [e.a for e in extra], order), "content": content}
    if table == "http":
        dom = pools.domains.take(pa.array(rng.choice(len(pools.domains), nb, p=pools.domain_p)))
        w1 = pools.words.take(pa.array(rng.integers(0, len(pools.words), nb)))
        w2 = pools.words.take(pa.array(rng.integers(0, len(pools.words), nb)))
        urls = pc.binary_join_element_wise("http://", dom, "/", w1, "/", w2, "")
        return {"url": _merge(urls, [e.a for e in extra], order), "content": content}
    # email: one or two recipients, 15% outside the organisation; a few cc and bcc
    n_addr = len(pools.addresses)
    internal = rng.integers(0, pools.n_internal, nb)
    outside = rng.integers(pools.n_internal, n_addr, nb)
    first_to = np.where(rng.random(nb) < 0.15, outside, internal)
    to = pools.addresses.take(pa.array(first_to))
    second = pools.addresses.take(pa.array(rng.integers(0, pools.n_internal, nb)))
    to = pc.if_else(
        pa.array(rng.random(nb) < 0.3), pc.binary_join_element_wise(to, second, ";"), to
    )
    cc = pc.if_else(pa.array(rng.random(nb) < 0.2), second, pa.scalar("", pa.string()))
    bcc = pc.if_else(
        pa.array(rng.random(nb) < 0.05),
        pools.addresses.take(pa.array(outside)),
        pa.scalar("", pa.string()),
    )
    attach = np.where(rng.random(nb) < 0.25, rng.integers(1, 4, nb), 0)
    sizes = rng.integers(10_000, 60_000, n)
    return {
        "to": _merge(to, [e.a for e in extra], order),
        "cc": _merge(cc, ["" for _ in extra], order),
        "bcc": _merge(bcc, ["" for _ in extra], order),
        "from": _merge(
            pools.emails.take(pa.array(base["u"].astype(np.int64))),
            [pools.emails[e.user].as_py() for e in extra],
            order,
        ),
        "size": pa.array(sizes[order]),
        "attachments": pa.array(np.r_[attach, [e.b for e in extra]].astype(np.int64)[order]),
        "content": content,
    }


def _to_r52(table: str, chunk: pa.Table) -> pa.Table:
    """The same rows in the r5.2 columns."""
    n = chunk.num_rows

    def const(value: str) -> pa.Array:
        return pa.array([value] * n, pa.string())

    if table == "device":
        return chunk.add_column(4, "file_tree", const("R:\\;R:\\Documents"))
    if table == "file":
        chunk = chunk.add_column(5, "activity", const("File Copy"))
        chunk = chunk.add_column(6, "to_removable_media", const("True"))
        return chunk.add_column(7, "from_removable_media", const("False"))
    if table == "email":
        listed = _ATTACHMENTS.take(pc.min_element_wise(chunk.column("attachments"), 3))
        chunk = chunk.set_column(9, "attachments", listed)
        return chunk.add_column(8, "activity", const("Send"))
    return chunk


def _unpad_some(dates: pa.Array, stamps: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Quirk: about 3% of dates written without zero padding (``1/4/2010 8:03:00``)."""
    pick = np.flatnonzero(rng.random(len(dates)) < 0.03)
    if pick.size == 0:
        return dates
    values = dates.to_pylist()
    for i in pick.tolist():
        t = stamps[i].as_py()
        values[i] = f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}:{t.second:02d}"
    return pa.array(values, pa.string())


def _collect_answers(
    table: str,
    chunk: pa.Table,
    tags: np.ndarray,
    times: np.ndarray,
    answers: dict[int, list[tuple[int, str]]],
) -> None:
    rows = np.flatnonzero(tags >= 0)
    if rows.size == 0:
        return
    sub = chunk.take(pa.array(rows)).to_pylist()
    for i, row in zip(rows.tolist(), sub, strict=True):
        fields = [table] + [str(row[c]) for c in chunk.column_names]
        answers[int(tags[i])].append((int(times[i]), ",".join(fields)))


def _write_ldap(path: Path, org: Org, config: SynthConfig) -> None:
    """One snapshot per month; a leaver is listed up to the month of the last working day."""
    folder = path / "LDAP"
    folder.mkdir(exist_ok=True)
    end = org.date(org.days - 1)
    month = dt.date(org.start.year, org.start.month, 1)
    eol = "\r\n" if config.quirks else "\n"  # quirk: the snapshots have CRLF line endings
    header = (
        "employee_name,user_id,email,role,business_unit,functional_unit,department,team,supervisor"
    )
    while month <= end:
        lines = [header]
        for u in range(org.users):
            lwd = int(org.lwd[u])
            if lwd >= 0 and org.date(lwd) < month:
                continue
            boss = org.supervisors[u]
            dept = DEPARTMENTS.index(org.departments[u]) + 1
            lines.append(
                f"{org.names[u]},{org.ids[u]},{org.emails[u]},{org.roles[u]},1,"
                f"{dept} - {org.departments[u]},{org.departments[u]},{dept},"
                f"{org.names[boss] if boss >= 0 else ''}"
            )
        (folder / f"{month:%Y-%m}.csv").write_bytes((eol.join(lines) + eol).encode())
        month = (month + dt.timedelta(days=32)).replace(day=1)


def _write_answers(
    path: Path, org: Org, config: SynthConfig, answers: dict[int, list[tuple[int, str]]]
) -> None:
    """``answers/insiders.csv`` and one ragged file per insider, quirks included."""
    folder = path / "answers"
    folder.mkdir(exist_ok=True)
    lines = ["dataset,scenario,details,user,start,end"]
    for tag, ins in enumerate(org.insiders):
        rows = sorted(answers.get(tag, []))
        user = org.ids[ins.user]
        name = f"{config.layout}-{ins.scenario}-{user}.csv"
        sub = folder / f"{config.layout}-{ins.scenario}"
        sub.mkdir(exist_ok=True)
        body = [r for _, r in rows]
        if config.quirks and tag == 0:  # quirk: one answer file mixes CRLF and LF
            data = "".join(r + ("\r\n" if k % 2 == 0 else "\n") for k, r in enumerate(body))
        else:
            data = "".join(r + "\n" for r in body)
        (sub / name).write_bytes(data.encode())
        start, end = body[0].split(",")[2], body[-1].split(",")[2]
        if config.quirks and ins.scenario == 3:
            start = start[start.index("/") :]  # quirk: the month is missing (as in r6.2)
        if config.quirks and ins.scenario == 1:
            end = _unpadded(end)
        lines.append(f"{config.layout[1:]},{ins.scenario},{name},{user},{start},{end}")
    other = "5.2" if config.layout == "r4.2" else "4.2"
    lines.append(
        f"{other},2,r{other}-2-ZZZ0001.csv,ZZZ0001,03/01/2011 09:00:00,03/29/2011 17:00:00"
    )
    eol = "\r\n" if config.quirks else "\n"
    (folder / "insiders.csv").write_bytes((eol.join(lines) + eol).encode())


def _unpadded(text: str) -> str:
    t = dt.datetime.strptime(text, _FMT)
    return f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}:{t.second:02d}"
