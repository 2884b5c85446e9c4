// Unit tests of the template interpreter. Expected strings are what Python's
// jinja2 3.1 renders with trim_blocks=True, lstrip_blocks=True.
#include <string>

#include <gtest/gtest.h>

#include "template/template.h"

namespace plexus::tmpl {
namespace {

Result<std::string> RenderWith(std::string_view source, const Value& ctx, const RenderOptions& options = {}) {
  PLEXUS_ASSIGN_OR_RETURN(Template t, Template::Parse(source));
  return t.Render(ctx, options);
}

std::string Render(std::string_view source, const Value& ctx = Value::Object()) {
  auto r = RenderWith(source, ctx);
  return r.ok() ? r.value() : "ERROR: " + r.status().message();
}

std::string ErrorOf(std::string_view source, const Value& ctx = Value::Object(), const RenderOptions& options = {}) {
  auto r = RenderWith(source, ctx, options);
  return r.ok() ? "rendered: " + r.value() : r.status().message();
}

TEST(TemplateWhitespace, TrimAndLstripBlocks) {
  EXPECT_EQ(Render("  {% if true %}\n  x\n  {% endif %}\n  y"), "  x\n  y");
  EXPECT_EQ(Render("a\n{#- c #}\nb {#- c -#} c\n  {# com #}\nd"), "abc\nd");
  EXPECT_EQ(Render("{% if true %}\n  a\n{% endif +%}\n  b"), "  a\n\n  b");  // +%} keeps the newline
  EXPECT_EQ(Render("x  {{- 'y' -}}  \n z"), "xyz");
  EXPECT_EQ(Render("  {{ 'v' }}\n"), "  v");  // no lstrip before {{, one trailing newline dropped
  EXPECT_EQ(Render("a\r\nb\rc"), "a\nb\nc");
  EXPECT_EQ(Render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(Render("{% raw %}{{ not }}{% endraw %}"), "{{ not }}");
}

TEST(TemplateLoops, LoopVariables) {
  EXPECT_EQ(Render("{% for i in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.revindex }}|{% endfor %}"),
            "10TrueFalse33|21FalseFalse32|32FalseTrue31|");
  EXPECT_EQ(Render("{% for i in 'abc' %}{{ loop.previtem }}{{ i }}{{ loop.nextitem }},{% endfor %}"), "ab,abc,bc,");
  EXPECT_EQ(Render("{% for i in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for i in [1,2,3,4] if i is odd %}{{ loop.index }}/{{ loop.length }} {% endfor %}"),
            "1/2 2/2 ");
  EXPECT_EQ(Render("{% for i in range(6) %}{% if i == 4 %}{% break %}{% endif %}{% if i is even %}{% continue %}"
                   "{% endif %}{{ i }}{% endfor %}"),
            "13");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(Render("{% for i in range(3) %}{{ loop.cycle('x', 'y') }}{% endfor %}"), "xyx");
}

TEST(TemplateScopes, SetInLoopsIfsAndNamespaces) {
  // A for iteration is its own scope; an if is not.
  EXPECT_EQ(Render("{% set x = 'out' %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}<{{ x }}>"),
            "[out](1)[out](2)<out>");
  EXPECT_EQ(Render("{% set x = 'out' %}{% if true %}{% set x = 'in' %}{% endif %}{{ x }}"), "in");
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% endfor %}"
                   "{{ ns.n }}"),
            "6");
  EXPECT_EQ(Render("{% set ns = namespace() %}{% set ns.a = [1] %}{% set ns.a = ns.a + [2] %}{{ ns.a }}"), "[1, 2]");
  EXPECT_EQ(Render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(Render("{% set x %}  a {{ 1 + 1 }}  {% endset %}[{{ x }}]"), "[  a 2  ]");
  EXPECT_EQ(Render("{% set x | trim %}  padded  {% endset %}[{{ x }}]"), "[padded]");
  EXPECT_EQ(Render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_NE(ErrorOf("{% set s = 'x' %}{% set s.a = 1 %}").find("non-namespace"), std::string::npos);
}

TEST(TemplateMacros, DefaultsClosuresAndCaller) {
  EXPECT_EQ(Render("{% macro m(a, b=2) %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, 3) }}{{ m(b=5, a=0) }}"),
            "121305");
  // A macro sees its defining scope at call time, not the caller's loop.
  EXPECT_EQ(Render("{% set y = 'a' %}{% macro m() %}{{ y }}{% endmacro %}{% set y = 'b' %}{{ m() }}"), "b");
  EXPECT_EQ(Render("{% macro m() %}{{ y }}{% endmacro %}{% for y in [1] %}{{ m() }}{% endfor %}"), "");
  EXPECT_EQ(Render("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}"
                   "{{ fact(5) }}"),
            "120");
  EXPECT_EQ(Render("{% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}{% call box('x') %}in{% endcall %}"),
            "[x:in]");
  EXPECT_NE(ErrorOf("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").find("takes not more than 1"), std::string::npos);
}

TEST(TemplateExpressions, OperatorsAndLiterals) {
  EXPECT_EQ(Render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 10 / 4 }} {{ 2 ** 10 }}"),
            "7 3 -4 2 2.5 1024");
  EXPECT_EQ(Render("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 1e-07 }}"), "0.30000000000000004 1e+20 1.0 1e-07");
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }}"), "a1NoneTrue ababab [1, 2]");
  EXPECT_EQ(Render("{{ 'abc'[::-1] }} {{ [1,2,3][1:] }} {{ 'abc'[-1] }} {{ [1,2,3,4][::2] }}"), "cba [2, 3] c [1, 3]");
  EXPECT_EQ(Render("{{ 'x' if false }}|{{ 'y' if 0 else 'z' }}|{{ none or 'd' }}|{{ 1 and 2 }}"), "|z|d|2");
  EXPECT_EQ(Render("{{ 'a' in 'cab' }}{{ 'k' in {'k': 1} }}{{ 3 not in [1, 2] }}{{ 1 == 1.0 }}{{ 1 == true }}"),
            "TrueTrueTrueTrueTrue");
  EXPECT_EQ(Render("{{ [1, 'a', True, None, 1.5, {'k': \"v'\"}] }}"), "[1, 'a', True, None, 1.5, {'k': \"v'\"}]");
  EXPECT_EQ(Render("{{ 'a\\tb\\x41\\u00e9\\d' }}"), "a\tbA\xC3\xA9\\d");
}

TEST(TemplateUndefined, JinjaSemantics) {
  EXPECT_EQ(Render("[{{ x }}]{{ x is defined }}{{ x is iterable }}{{ x|length }}{{ 'a' in x }}{{ x == x }}"),
            "[]FalseTrue0FalseTrue");
  EXPECT_EQ(Render("{{ d.missing is defined }}{{ d['k'] }}{{ none.attr is defined }}",
                   Value::Object().Set("d", Value::Object().Set("k", "v"))),
            "FalsevFalse");
  EXPECT_EQ(Render("{{ x|default('d') }}{{ ''|default('d') }}{{ ''|default('d', true) }}"), "dd");
  EXPECT_NE(ErrorOf("{{ x.y }}").find("'x' is undefined"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'a' + x }}").find("'x' is undefined"), std::string::npos);
  // A dict's methods win over its keys for `.name`, as in Python.
  EXPECT_EQ(Render("{{ d.items is defined }}{{ d['items'] }}", Value::Object().Set("d", Value::Object().Set("items", 3))),
            "True3");
}

TEST(TemplateFilters, Common) {
  EXPECT_EQ(Render("{{ '  x '|trim }}|{{ 'Ab'|lower }}{{ 'Ab'|upper }}|{{ ' hello wORLD-foo'|title }}|{{ 'hELLO'|capitalize }}"),
            "x|abAB| Hello World-Foo|Hello");
  EXPECT_EQ(Render("{{ [1,'a',none]|join('-') }}|{{ [3,1,3]|unique|list }}|{{ ['A','a','b']|unique|list }}"),
            "1-a-None|[3, 1]|['A', 'b']");
  EXPECT_EQ(Render("{{ 'x\\ny\\n\\nz'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}"), "x\n  y\n\n  z|  a\n  b");
  EXPECT_EQ(Render("{{ 3.7|int }}{{ '42'|int }}{{ '4.5'|int }}{{ 'x'|int }}{{ '3'|float }}{{ 2.5|round }}{{ -3|abs }}"),
            "342403.02.03");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': [1, 2.0]}|tojson }}|{{ 'é<>&'|tojson }}|{{ {'a': 1}|tojson(indent=2) }}"),
            "{\"b\": 1, \"a\": [1, 2.0]}|\"\xC3\xA9<>&\"|{\n  \"a\": 1\n}");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true, separators=(',', ':')) }}"), "{\"a\":2,\"b\":1}");
  Value items = Value::Array();
  items.Append(Value::Object().Set("type", "a").Set("n", 1)).Append(Value::Object().Set("type", "b").Set("n", 2));
  Value ctx = Value::Object().Set("xs", items);
  EXPECT_EQ(Render("{{ xs|selectattr('type', 'equalto', 'b')|map(attribute='n')|list }}"
                   "{{ xs|rejectattr('type', 'equalto', 'b')|list|length }}{{ xs|map(attribute='type')|join }}", ctx),
            "[2]1ab");
  EXPECT_EQ(Render("{{ ['a', 'b']|reject('equalto', 'a')|list }}{{ {'a': 1}|items|list }}"), "['b'][['a', 1]]");
  EXPECT_EQ(Render("{{ 'a'|safe + '<b>' }}{{ 'x' ~ '<b>'|safe }}"), "a&lt;b&gt;x<b>");  // jinja2 Markup
}

TEST(TemplateMethods, StringAndDict) {
  EXPECT_EQ(Render("{{ ' x '.strip() }}|{{ 'xxa'.lstrip('x') }}|{{ 'a\\n\\n'.rstrip('\\n') }}|{{ 'a b  c'.split() }}"
                   "|{{ 'a</think>b'.split('</think>')[-1] }}"),
            "x|a|a|['a', 'b', 'c']|b");
  EXPECT_EQ(Render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'ab'.upper() }}{{ 'a-b'.replace('-', '+') }}"),
            "TrueTrueABa+b");
  EXPECT_EQ(Render("{{ d.get('a') }}{{ d.get('z', 9) }}{{ d.get('z') }}{{ d.keys()|list }}{{ d.values()|list }}",
                   Value::Object().Set("d", Value::Object().Set("a", 1))),
            "19None['a'][1]");
}

TEST(TemplateGlobals, RaiseExceptionAndStrftime) {
  std::string err = ErrorOf("line one\n{% if true %}\n  {{ raise_exception('Roles must alternate') }}\n{% endif %}");
  EXPECT_EQ(err, "[template] line 3, column 6: Roles must alternate");
  RenderOptions fixed;
  fixed.now_unix_seconds = 1727352000;  // 2024-09-26 12:00:00 UTC
  auto out = RenderWith("{{ strftime_now('%d %b %Y') }}", Value::Object(), fixed);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out.value(), "26 Sep 2024");
}

TEST(TemplateErrors, NameTheLine) {
  EXPECT_EQ(ErrorOf("a\nb\n{{ x|foo }}"), "[template] line 3, column 6: unknown filter 'foo'");
  EXPECT_EQ(ErrorOf("{% if x is frob %}{% endif %}"), "[template] line 1, column 9: unknown test 'frob'");
  EXPECT_NE(ErrorOf("{% if true %}never closed").find("expected 'endif'"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'unterminated }}").find("line 1"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ x").find("missing closing tag"), std::string::npos);
  EXPECT_NE(ErrorOf("{# no end").find("Missing end of comment"), std::string::npos);
  EXPECT_NE(ErrorOf("{% raw %}no end").find("Missing end of raw"), std::string::npos);
  EXPECT_NE(ErrorOf("{% include 'x' %}").find("unsupported statement 'include'"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ (1 }}").find("line 1"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 1 / 0 }}").find("division by zero"), std::string::npos);
  EXPECT_NE(ErrorOf("{% break %}").find("outside of a loop"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'a' < 1 }}").find("not supported"), std::string::npos);
}

TEST(TemplateHostile, DeepNestingRecursionAndHugeOutputFail) {
  std::string deep_expr = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(ErrorOf("{{ " + deep_expr + " }}").find("nested too deeply"), std::string::npos);
  std::string deep_ifs;
  for (int i = 0; i < 3000; ++i) deep_ifs += "{% if true %}";
  EXPECT_NE(ErrorOf(deep_ifs).find("nested too deeply"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ " + std::string(20000, '-') + "1 }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(ErrorOf("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("too deep"), std::string::npos);
  RenderOptions few;
  few.max_loop_iterations = 10000;
  EXPECT_NE(ErrorOf("{% for i in range(100000000) %}{% endfor %}", Value::Object(), few).find("range() too long"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{% for a in range(200) %}{% for b in range(200) %}{% endfor %}{% endfor %}", Value::Object(), few)
                .find("too many loop iterations"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'x' * 1000000000000 }}").find("too large"), std::string::npos);
  EXPECT_NE(ErrorOf("{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("too large"),
            std::string::npos);
  RenderOptions small;
  small.max_output_bytes = 100;
  EXPECT_NE(ErrorOf("{% for i in range(1000) %}abc{% endfor %}", Value::Object(), small).find("output larger"),
            std::string::npos);
  // Malformed bytes and stray delimiters are text or errors, never crashes.
  for (std::string_view junk : {"{", "{{", "{%", "{#", "}}", "%}", "{{}}", "{%%}", "{% for %}", "{{ [ }}",
                                "{% set %}", "{% macro %}", "\xff\xfe{{ '\xc3' }}", "{{ a.b.c[d](e)|f }}"}) {
    auto r = RenderWith(junk, Value::Object());
    (void)r;  // either outcome is fine; reaching here is the test
  }
}

}  // namespace
}  // namespace plexus::tmpl
