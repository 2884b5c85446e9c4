// plexus's chat-template renderer against Python's jinja2 (as transformers
// configures it): every case of conversations.json with every template, byte
// for byte. The expected outputs come from render_expected.py, which ctest
// runs first (fixture template_expected) into PLEXUS_TEMPLATE_EXPECTED_DIR.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "template/template.h"

namespace plexus::tmpl {
namespace {

using Json = nlohmann::ordered_json;  // keeps key order, as Python dicts do

std::string ReadFile(const std::string& path, bool* found = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (found != nullptr) *found = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Json& Table() {
  static const Json table = Json::parse(ReadFile(PLEXUS_SOURCE_DIR "/tests/template/conversations.json"));
  return table;
}

Value FromJson(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return Value::None();
    case Json::value_t::boolean: return Value(j.get<bool>());
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return Value(j.get<int64_t>());
    case Json::value_t::number_float: return Value(j.get<double>());
    case Json::value_t::string: return Value(j.get<std::string>());
    case Json::value_t::array: {
      Value v = Value::Array();
      for (const Json& item : j) v.Append(FromJson(item));
      return v;
    }
    default: {
      Value v = Value::Object();
      for (const auto& [k, item] : j.items()) v.Set(k, FromJson(item));
      return v;
    }
  }
}

std::vector<std::string> TemplateNames() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : Table()["templates"].items()) names.push_back(name);
  return names;
}

std::string TemplateSource(const Json& spec) {
  std::string text = ReadFile(std::string(PLEXUS_SHARED_DIR) + "/" + spec["file"].get<std::string>());
  if (spec.contains("json_field")) return Json::parse(text)[spec["json_field"].get<std::string>()].get<std::string>();
  return text;
}

// Where two outputs part, with some context, for a readable failure.
std::string FirstDifference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i < 60 ? 0 : i - 60;
  return "first difference at byte " + std::to_string(i) + "\n  want: ..." + want.substr(from, 120) +
         "\n  got:  ..." + got.substr(from, 120);
}

class TemplateRender : public ::testing::TestWithParam<std::string> {};

TEST_P(TemplateRender, MatchesJinja2) {
  const std::string& name = GetParam();
  const Json& spec = Table()["templates"][name];
  auto parsed = Template::Parse(TemplateSource(spec));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  RenderOptions options;
  options.now_unix_seconds = Table()["now_unix"].get<int64_t>();
  int checked = 0;
  for (const Json& c : Table()["cases"]) {
    const bool applies = c["templates"] == "all" ||
                         std::find(c["templates"].begin(), c["templates"].end(), name) != c["templates"].end();
    if (!applies) continue;
    const std::string case_name = c["name"].get<std::string>();
    SCOPED_TRACE("case " + case_name);
    Value context = FromJson(c["vars"]);
    for (const char* token : {"bos_token", "eos_token"}) {
      if (spec.contains(token)) context.Set(token, Value(spec[token].get<std::string>()));
    }
    const std::string stem = std::string(PLEXUS_TEMPLATE_EXPECTED_DIR) + "/" + case_name + "/" + name;
    bool has_text = false, has_error = false;
    std::string want = ReadFile(stem + ".txt", &has_text);
    std::string error = ReadFile(stem + ".err", &has_error);
    ASSERT_TRUE(has_text || has_error) << "no expected output at " << stem << ".{txt,err}: run ctest -R template_expected";
    auto got = parsed->Render(context, options);
    ++checked;
    if (has_text) {
      if (!got.ok()) {
        ADD_FAILURE() << "jinja2 rendered it, plexus failed: " << got.status().message();
      } else {
        EXPECT_TRUE(got.value() == want) << FirstDifference(want, got.value());
      }
      continue;
    }
    EXPECT_FALSE(got.ok()) << "jinja2 failed (" << error << "), plexus rendered:\n" << got.value();
    size_t nl = error.find('\n');
    if (!got.ok() && error.substr(0, nl) == "raise_exception") {
      EXPECT_NE(got.status().message().find(error.substr(nl + 1)), std::string::npos)
          << "want the message of raise_exception: " << error.substr(nl + 1) << "\ngot: " << got.status().message();
    }
  }
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(AllTemplates, TemplateRender, ::testing::ValuesIn(TemplateNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id = info.param;
                           for (char& ch : id) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return id;
                         });

TEST(TemplateRender, ChatmlBuiltinRenders) {
  auto t = Template::Parse(BuiltinTemplate("chatml"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  Value ctx = Value::Object();
  ctx.Set("messages", Value::Array().Append(Value::Object().Set("role", "user").Set("content", "Hi")));
  ctx.Set("add_generation_prompt", true);
  auto out = t->Render(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out.value(), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(BuiltinTemplate("nope"), nullptr);
}

}  // namespace
}  // namespace plexus::tmpl
