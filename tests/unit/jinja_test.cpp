// The Jinja interpreter's semantics where they differ from the obvious reading, each as jinja2
// (transformers' renderer) behaves; tests/conformance checks whole templates against transformers.
#include "s2d/text/jinja.h"

#include <gtest/gtest.h>

#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d::jinja {
namespace {

std::string render(const std::string& src, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  return Template(src, "t.jinja").render(ctx);
}

TEST(Jinja, StrFormatPositionalKeywordAndEscapes) {
  EXPECT_EQ(render("{{ '<x{}y{}>'.format('A', 2) }}"), "<xAy2>");
  EXPECT_EQ(render("{{ '{1}-{0}'.format('a', 'b') }}"), "b-a");
  EXPECT_EQ(render("{{ '{{{n}}}'.format(n='k') }}"), "{k}");
  EXPECT_S2D_ERROR(render("{{ '{}{}'.format(1) }}"), ErrorKind::Input, "t.jinja:1", "missing positional argument");
  EXPECT_S2D_ERROR(render("{{ '{:>4}'.format(1) }}"), ErrorKind::Input, "unsupported format field");
}

TEST(Jinja, FilterBlockAppliesToItsBody) {
  EXPECT_EQ(render("[{% filter trim %}\n  text  \n{% endfilter %}]"), "[text]");
  EXPECT_EQ(render("{% filter upper %}a{{ 'b' }}{% endfilter %}"), "AB");
}

TEST(Jinja, DictsortByKeyIgnoringCase) {
  EXPECT_EQ(
      render("{% for k, v in d | dictsort %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"b", 1}, {"A", 2}, {"a", 3}}}}),
      "A=2;a=3;b=1;");
}

TEST(Jinja, NoneAndUndefinedAsJinja2TreatsThem) {
  // select/reject/map iterate only a truthy value; nothing is in an undefined; none is not iterable.
  EXPECT_EQ(render("{{ tools | selectattr('type', 'equalto', 'x') | list | length }}", {{"tools", nullptr}}), "0");
  EXPECT_EQ(render("{{ 'c' in controls }}"), "False");
  EXPECT_S2D_ERROR(render("{{ 'c' in tools }}", {{"tools", nullptr}}), ErrorKind::Input, "'NoneType' is not iterable");
  EXPECT_S2D_ERROR(render("{{ 'a' + functions }}"), ErrorKind::Input, "t.jinja:1", "'functions' is undefined");
}

}  // namespace
}  // namespace s2d::jinja
