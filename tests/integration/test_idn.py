"""Input formats and internationalised names end to end (issue 11).

- Excel "Unicode text" saved as .txt (UTF-16LE with a BOM, TAB-separated
  columns, CRLF) is read as a table, not as a list of rejected lines; a file
  that is neither UTF-8 nor UTF-16 is refused as a whole with a hint;
- an RPZ zone whose SOA owner is '@' is not reported as having no SOA;
- `redsink-ctl log --domain` accepts the Unicode form `push` accepts;
- redsink-warnd's page names an internationalised domain as the user typed it,
  with the A-label beside it: "münchen-stream.example (xn--mnchen-stream-wob.example)".

Each test runs the real tools against a private Redis (and warnd on a
loopback port); every server is stopped by its fixture.
"""

import rs
from test_ctl import add_order, ctl, domains, ok
from test_warnd import get, make_warnd  # noqa: F401  (make_warnd is a fixture)

U = "m\u00fcnchen-stream.example"
A = "xn--mnchen-stream-wob.example"


def test_excel_unicode_text_is_a_table(redis, tmp_path):
    add_order(redis, "o1")
    sheet = ("Dominio\tOrdine\tNote\r\n"
             f"{U}\t12/2026\tlive, calcio\r\n"
             "pirate.example\t12/2026\t\r\n")
    f = tmp_path / "lista.txt"
    f.write_bytes(b"\xff\xfe" + sheet.encode("utf-16-le"))
    p = ok(ctl(redis, "push", "o1", f))
    assert domains(redis, "o1") == {A, "pirate.example"}
    assert "UTF-16 file converted to UTF-8" in p.stderr
    assert "error" not in p.stderr

    # the same sheet without a byte-order mark, big-endian
    add_order(redis, "o2")
    g = tmp_path / "be.txt"
    g.write_bytes(sheet.encode("utf-16-be"))
    p = ok(ctl(redis, "push", "o2", g))
    assert domains(redis, "o2") == {A, "pirate.example"}
    assert "no byte-order mark" in p.stderr


def test_file_in_another_encoding_is_refused_with_a_hint(redis, tmp_path):
    add_order(redis, "o1")
    latin1 = tmp_path / "ansi.txt"
    latin1.write_bytes(f"a1.example\n{U}\n".encode("latin-1"))
    p = ctl(redis, "push", "o1", latin1, "--skip-invalid")
    assert p.returncode != 0, p.stdout + p.stderr
    assert "not UTF-8 or UTF-16" in p.stdout + p.stderr
    assert "Windows-1252" in p.stdout + p.stderr
    xlsx = tmp_path / "orders.txt"
    xlsx.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64)
    p = ctl(redis, "push", "o1", xlsx)
    assert p.returncode != 0
    assert "Excel .xlsx" in p.stdout + p.stderr
    assert domains(redis, "o1") == set()


def test_rpz_with_soa_owner_at(redis, tmp_path):
    add_order(redis, "o1")
    z = tmp_path / "policy.rpz"
    z.write_text("$TTL 300\n"
                 "@ IN SOA localhost. root.localhost. ( 1 3600 600 86400 300 )\n"
                 "  IN NS localhost.\n"
                 "a1.example CNAME .\n"
                 "a2.example.rpz.test. CNAME .\n")
    p = ctl(redis, "push", "o1", z)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "no $ORIGIN or SOA" not in out
    assert "the SOA's owner is '@'" in out and "--origin" in out
    ok(ctl(redis, "push", "o1", z, "--origin", "rpz.test"))
    assert domains(redis, "o1") == {"a1.example", "a2.example"}


def test_log_domain_accepts_unicode(redis):
    add_order(redis, "o1")
    ok(ctl(redis, "push", "o1", input=f"{U}\npirate.example\n"))
    for name in (U, "M\u00dcNCHEN-Stream.Example.", A):
        p = ok(ctl(redis, "log", "--domain", name))
        lines = [ln for ln in p.stdout.splitlines() if "op=add" in ln]
        assert len(lines) == 1 and f"domain={A}" in lines[0], p.stdout
    p = ctl(redis, "log", "--domain", "a b.example")
    assert p.returncode == 2 and "--domain" in p.stderr


def test_warning_page_names_the_unicode_form(redis, make_warnd):  # noqa: F811
    c = redis.client()
    rs.put_order(c, "o1", [A, "xn--80ak6aa92e.com"])   # the second: "apple" in Cyrillic letters
    w = make_warnd(redis)
    st, _, body = get(w.port, f"www.{A}")
    assert st == 451
    assert f'<strong class="domain">www.{U} (www.{A})</strong>' in body
    assert f'<dd class="domain">{U} ({A})</dd>' in body
    assert f"<title>Blocked by order RG 1234/2026: www.{U} (www.{A})</title>" in body
    # a whole-script confusable keeps its A-label only: it would read as "apple.com"
    st, _, body = get(w.port, "xn--80ak6aa92e.com")
    assert st == 451
    assert '<dd class="domain">xn--80ak6aa92e.com</dd>' in body
    assert "\u0430" not in body


def test_push_diff_and_order_show_name_both_forms(redis, tmp_path):
    add_order(redis, "o1")
    f = tmp_path / "list.txt"
    f.write_text(f"{U}\npirate.example\n", encoding="utf-8")
    p = ok(ctl(redis, "push", "o1", f, "--dry-run"))
    assert f"+ {U} ({A})" in p.stdout, p.stdout
    assert "+ pirate.example\n" in p.stdout
    ok(ctl(redis, "push", "o1", f))
    p = ok(ctl(redis, "push", "o1", f, "--dry-run"))
    assert f"= {U} ({A})  already listed" in p.stdout, p.stdout
    p = ok(ctl(redis, "order", "show", "o1", "--domains"))
    assert f"{U} ({A})" in p.stdout, p.stdout
