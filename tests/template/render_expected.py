#!/usr/bin/python3
"""Renders every case of conversations.json with every chat template, using
Python's jinja2 set up the way Hugging Face transformers sets it up, and writes
what it got, one file per (case, template), for template_render_test to
compare with plexus's renderer byte for byte.

  render_expected.py --shared ../shared --out DIR [--conversations FILE]

Writes DIR/<case>/<template>.txt (the rendered prompt) or .err (first line
"raise_exception" or the Python exception type, then the message).
"""
import argparse
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class RaisedByTemplate(jinja2.exceptions.TemplateError):
    """What raise_exception() throws, told apart from jinja2's own errors."""


class AssistantTracker(Extension):
    """transformers' {% generation %} block; here it only renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render", [])
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment(now_unix):
    """transformers' _compile_jinja_template environment, with a fixed clock."""
    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # transformers' override: no HTML escaping, and these json.dumps options.
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        now = datetime.datetime.fromtimestamp(now_unix, tz=datetime.timezone.utc)
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def load_template(shared, spec):
    path = os.path.join(shared, spec["file"])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "json_field" in spec:
        text = json.loads(text)[spec["json_field"]]
    return text


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--conversations", default=os.path.join(here, "conversations.json"))
    args = ap.parse_args()

    with open(args.conversations, encoding="utf-8") as f:
        table = json.load(f)
    env = make_environment(table["now_unix"])
    compiled = {name: env.from_string(load_template(args.shared, spec))
                for name, spec in table["templates"].items()}
    counts = {"ok": 0, "error": 0}
    for case in table["cases"]:
        names = list(table["templates"]) if case["templates"] == "all" else case["templates"]
        case_dir = os.path.join(args.out, case["name"])
        os.makedirs(case_dir, exist_ok=True)
        for name in names:
            spec = table["templates"][name]
            variables = dict(case["vars"])
            for token in ("bos_token", "eos_token"):
                if token in spec:
                    variables[token] = spec[token]
            stem = os.path.join(case_dir, name)
            for stale in (stem + ".txt", stem + ".err"):
                if os.path.exists(stale):
                    os.remove(stale)
            try:
                text = compiled[name].render(**variables)
                with open(stem + ".txt", "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                counts["ok"] += 1
            except Exception as e:  # every failure is an expected error for C++
                kind = "raise_exception" if isinstance(e, RaisedByTemplate) else type(e).__name__
                with open(stem + ".err", "w", encoding="utf-8", newline="") as f:
                    f.write(kind + "\n" + str(e))
                counts["error"] += 1
    print(f"rendered {counts['ok']} prompts, {counts['error']} expected errors into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
