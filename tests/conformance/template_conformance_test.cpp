// s2d's Jinja interpreter against transformers' render_jinja_template (what
// apply_chat_template(tokenize=False) calls), on the cases make_template_reference.py writes:
// every template of tests/data/templates over a matrix of conversations. Each case must render
// to the same text, or fail where transformers fails (raise_exception).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "conformance_main.h"
#include "s2d/text/jinja.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/jsonl.h"

namespace {

std::string g_ref, g_templates;

TEST(ChatTemplates, RenderEqualsTransformers) {
  std::map<std::string, std::unique_ptr<s2d::jinja::Template>> compiled;
  int cases = 0, same = 0, refused = 0;
  std::map<std::string, int> per_template, per_template_ok;
  // Parsed keeping each object's key order, as Python's dicts keep it: a tool's schema goes
  // through tojson, which prints the keys in that order.
  auto check = [&](int64_t line, const nlohmann::ordered_json& c) {
    const std::string name = c["template"].get<std::string>();
    ++cases;
    ++per_template[name];
    auto& t = compiled[name];
    try {
      if (!t) t = std::make_unique<s2d::jinja::Template>(s2d::read_file(g_templates + "/" + name), name);
    } catch (const s2d::Error& e) {
      ADD_FAILURE() << name << " case " << line << ": " << e.what();
      return;
    }
    nlohmann::ordered_json ctx = {{"messages", nlohmann::ordered_json::parse(c["messages"].dump())},
                                  {"add_generation_prompt", c["add_generation_prompt"].get<bool>()},
                                  {"bos_token", "<s>"},
                                  {"eos_token", "</s>"},
                                  {"tools", nullptr},
                                  {"documents", nullptr}};
    for (auto it = c["kwargs"].begin(); it != c["kwargs"].end(); ++it)
      ctx[it.key()] = nlohmann::ordered_json::parse(it->dump());
    if (c.contains("error")) {
      try {
        const std::string got = t->render(ctx);
        ADD_FAILURE() << name << " case " << line << ": transformers refused (" << c["error"] << "), s2d rendered "
                      << nlohmann::json(got).dump();
      } catch (const s2d::Error& e) {
        EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos) << e.what();
        ++refused;
        ++per_template_ok[name];
      }
      return;
    }
    std::string got;
    try {
      got = t->render(ctx);
    } catch (const s2d::Error& e) {
      ADD_FAILURE() << name << " case " << line << ": " << e.what();
      return;
    }
    if (got == c["rendered"].get<std::string>()) {
      ++same;
      ++per_template_ok[name];
    } else {
      ADD_FAILURE() << name << " case " << line << ":\n  s2d:          " << nlohmann::json(got).dump()
                    << "\n  transformers: " << c["rendered"].dump();
    }
  };
  const std::string cases_text = s2d::read_file(g_ref + "/templates.jsonl");
  int64_t line = 0;
  for (size_t start = 0; start < cases_text.size();) {
    const size_t end = std::min(cases_text.find('\n', start), cases_text.size());
    check(++line, s2d::parse_ordered_json(std::string_view(cases_text).substr(start, end - start), {}));
    start = end + 1;
  }
  for (const auto& [name, n] : per_template)
    std::printf("  %-60s %4d/%d cases agree\n", name.c_str(), per_template_ok[name], n);
  std::printf(
      "chat templates: %d cases over %zu templates, %d rendered identically, %d refused as transformers refuses\n",
      cases, per_template.size(), same, refused);
  EXPECT_EQ(same + refused, cases);
}

TEST(ChatTemplates, UnsupportedConstructsNameTheirLine) {
  auto expect = [](const std::string& src, const std::string& fragment, bool hint = true) {
    try {
      s2d::jinja::Template t(src, "t.jinja");
      (void)t.render({{"messages", nlohmann::ordered_json::array()}});
      ADD_FAILURE() << "expected an error for " << src;
    } catch (const s2d::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      if (hint) {
        EXPECT_NE(std::string(e.what()).find("--chat-template"), std::string::npos) << e.what();
      }
    }
  };
  expect("line one\n{% include 'x' %}", "t.jinja:2: unsupported construct: found {% include %}");
  expect("{{ x | wordwrap }}", "t.jinja:1: unsupported filter: found |wordwrap");
  expect("{% if x is sameas_or_what %}{% endif %}", "unsupported test");
  expect("{% for %}", "t.jinja:1: expected a name");
  expect("{{ 'abc' ", "unclosed tag");
  expect("{% if true %}", "missing {% endif %}");
  expect("{{ 'a' + m[] }}", "t.jinja:1: empty subscript");                             // found by fuzz_chat_template
  expect("{{ 99999999999999999999999 }}", "t.jinja:1: integer literal out of range");  // found by fuzz_chat_template
  expect("{{ raise_exception('roles must alternate') }}",
         "the chat template refused the conversation: roles must alternate", false);
}

}  // namespace

int main(int argc, char** argv) {
  const s2d::conformance::Flags flags(argc, argv);
  g_ref = flags.get("--ref");
  g_templates = flags.get("--templates");
  if (g_ref.empty() || g_templates.empty())
    return s2d::conformance::usage("s2d_template_conformance_tests --ref DIR --templates DIR");
  return RUN_ALL_TESTS();
}
