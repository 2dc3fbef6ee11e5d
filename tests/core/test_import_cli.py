"""`enishi import`'s options, as an operator runs them: --sheet, --map, --ignore, --overwrite,
--dry-run and --errors-out (the rejected rows in the input's encoding, with an error column), and
the progress bar a terminal gets."""

import datetime as dt
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

from tests.core.import_files import cli_env, cli_import, csv_bytes, table_counts, xlsx_bytes

HEADER = ["氏名", "TEL2", "社員番号", "社内メモ", "メールアドレス", "役職", "最終対応日"]
ROWS = [
    ["山田 太郎", "090-1111-2222", "E-7", "不要", "taro@example.jp", "部長", dt.datetime(2024, 4, 1)],
    ["佐藤 花子", "12", "E-8", "", "hanako@example.jp", "", "いつか"],
]


async def test_import_options_through_the_cli(enishi_api, enishi_fresh_migrated, tmp_path):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    workbook = xlsx_bytes([HEADER, *ROWS], sheet="名簿", extra_sheet_first=True)
    options = ["--sheet", "名簿", "--map", "TEL2=phone", "--map", "社員番号=custom:employee_no", "--ignore", "社内メモ"]
    unmapped = cli_import(enishi_fresh_migrated, tmp_path, "b.xlsx", workbook, "--sheet", "名簿", check=False)
    assert unmapped.returncode != 0 and all(name in unmapped.stderr for name in ("TEL2", "社員番号", "社内メモ"))
    before = await table_counts(api)
    dry = cli_import(enishi_fresh_migrated, tmp_path, "b.xlsx", workbook, *options, "--dry-run").stdout.splitlines()
    assert await table_counts(api) == before
    errors_file = tmp_path / "errors.csv"
    real = cli_import(enishi_fresh_migrated, tmp_path, "b.xlsx", workbook, *options, "--errors-out", str(errors_file))
    lines = real.stdout.splitlines()
    assert lines[1] == "1/2 rows" or lines[1].endswith("2/2 rows")  # progress, a line per batch when not on a terminal
    report = [line for line in lines if not line.endswith(" rows") or ": " in line]
    assert report[1].endswith(": 2 rows: 1 created, 0 updated, 0 merged, 0 unchanged, 1 rejected")
    assert dry[1:] == report[2:-1] == ["  created: rows 2", "  rejected: row 3: TEL2 INVALID_PHONE, 最終対応日 INVALID_DATE"]
    assert errors_file.read_bytes().decode("utf-8-sig").splitlines() == [  # a workbook's report: UTF-8 with a BOM
        "氏名,TEL2,社員番号,社内メモ,メールアドレス,役職,最終対応日,エラー",
        "佐藤 花子,12,E-8,,hanako@example.jp,,いつか,TEL2: INVALID_PHONE; 最終対応日: INVALID_DATE",
    ]
    contact = await api.graphql("{ contacts { nodes { phones { e164 } customFields jobTitle } } }")
    assert contact["contacts"]["nodes"] == [
        {"phones": [{"e164": "+819011112222"}], "customFields": {"employee_no": "E-7"}, "jobTitle": "部長"}
    ]

    changed = csv_bytes([["メールアドレス", "役職"], ["taro@example.jp", "社長"]], "utf-16", "\t")
    kept = cli_import(enishi_fresh_migrated, tmp_path, "u.txt", changed, "--quiet").stdout.splitlines()
    assert kept[-1] == "  note: row 2: 役職 CONFLICT"
    cli_import(enishi_fresh_migrated, tmp_path, "u.txt", changed, "--quiet", "--overwrite")
    assert (await api.graphql("{ contacts { nodes { jobTitle } } }"))["contacts"]["nodes"] == [{"jobTitle": "社長"}]


def test_an_unclosed_quote_stops_the_cli_naming_its_row(enishi_fresh_migrated, tmp_path):
    broken = '氏名,メールアドレス\r\n山田 太郎,taro@example.jp\r\n"佐藤 花子,hanako@example.jp\r\n鈴木 一郎,ichiro@example.jp\r\n'
    refused = cli_import(enishi_fresh_migrated, tmp_path, "q.csv", broken.encode("cp932"), check=False)
    assert refused.returncode != 0 and "row 3 " in refused.stderr and "UNCLOSED_QUOTE" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_terminal_gets_a_progress_bar_with_rows_per_second_and_time_left(enishi_fresh_migrated, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(csv_bytes([["メールアドレス"], *([f"p{i}@example.jp"] for i in range(3))]))
    terminal, its_end = pty.openpty()  # stderr on a terminal, as an operator's shell has it
    fcntl.ioctl(its_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns wide
    done = subprocess.run(
        [sys.executable, "-m", "enishi.cli", "import", str(path)],
        env={**os.environ, **cli_env(enishi_fresh_migrated)},
        stdout=subprocess.PIPE,
        stderr=its_end,
        text=True,
        check=True,
    )
    os.close(its_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 1 << 16)
        except OSError:  # the terminal's other end is closed: everything was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    bar = [line for line in shown.decode().split("\r") if line.strip()][-1]  # tqdm redraws its line: the last one
    assert re.search(r"100%\|█+\| 3/3 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+ rows/s\]", bar), shown
    assert "/3 rows" not in done.stdout  # on a terminal, the bar instead of a line per batch
    assert done.stdout.splitlines()[-2].endswith(": 3 rows: 3 created, 0 updated, 0 merged, 0 unchanged, 0 rejected")
