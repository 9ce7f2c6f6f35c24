// The master's ACLs (runtime/src/master/acl.h): Mesos' matching rules, the
// file's errors, and reloading. The master's use of them is in
// master_test.cc (RegisterFrameworksRunTasksAndRegisterAgentsFollowTheAcls)
// and, over CURVE with real processes, in e2e/test_security.py.
#include "acl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/runtime/reloading_file.h"

namespace allot::runtime::master {
namespace {

using ::testing::HasSubstr;

std::optional<std::string> some(const char* s) {
  return std::string(s);
}

// Mesos' documented example (docs/authorization.md): principal foo may
// register frameworks only in role bar, and no one else in any role.
constexpr const char* kFooInBar = R"({
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["foo"]}, "roles": {"values": ["bar"]}},
    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
  ]
})";

TEST(AclsTest, FirstMatchingRuleDecidesAsInMesos) {
  const Acls acls = parseAcls(kFooInBar, "acls.json");
  EXPECT_FALSE(acls.permissive);
  EXPECT_EQ(acls.ruleCount(), 2u);
  const auto in = [&](std::optional<std::string> principal, const char* role) {
    return acls.authorize(AclAction::kRegisterFramework, principal, some(role));
  };
  Acls::Decision d = in(some("foo"), "bar");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "register_frameworks[0]");
  // foo in another role: rule 0's role does not match; rule 1 refuses.
  d = in(some("foo"), "baz");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "register_frameworks[1]");
  EXPECT_FALSE(in(some("qux"), "bar").allowed);
  // No principal is a request subject of type ANY: only ANY and NONE rules
  // match it.
  d = in(std::nullopt, "bar");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "register_frameworks[1]");
  // Other actions have no rules: not permissive, so refused.
  d = acls.authorize(AclAction::kRunTask, some("foo"), some("nobody"));
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.rule, HasSubstr("not permissive"));
}

TEST(AclsTest, NoneSubjectsRefuseAndUnnamedObjectsMatchOnlyAnyOrNone) {
  const Acls acls = parseAcls(R"({
    "run_tasks": [
      {"principals": {"values": ["alpha"]}, "users": {"values": ["alice"]}},
      {"principals": {"values": ["alpha"]}, "users": {"type": "ANY"}},
      {"principals": {"type": "NONE"}, "users": {"values": ["root"]}}
    ]})",
                              "acls.json");
  EXPECT_TRUE(acls.permissive);  // Mesos' default
  // A framework that names no user: rule 0 (SOME users) does not match it,
  // rule 1 (ANY) does.
  Acls::Decision d = acls.authorize(AclAction::kRunTask, some("alpha"), std::nullopt);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "run_tasks[1]");
  EXPECT_EQ(acls.authorize(AclAction::kRunTask, some("alpha"), some("alice")).rule, "run_tasks[0]");
  // Principals NONE: no principal at all may run as root (rule 1 took
  // alpha's requests first).
  d = acls.authorize(AclAction::kRunTask, some("beta"), some("root"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "run_tasks[2]");
  d = acls.authorize(AclAction::kRunTask, std::nullopt, some("root"));
  EXPECT_FALSE(d.allowed);
  // Nothing matches: permissive allows.
  d = acls.authorize(AclAction::kRunTask, some("beta"), some("bob"));
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.rule, HasSubstr("no rule matched"));
}

TEST(AclsTest, AgentRules) {
  const Acls acls = parseAcls(R"({"permissive": false, "register_agents": [
      {"principals": {"values": ["rack-1", "rack-2"]}, "agents": {"type": "ANY"}}]})",
                              "acls.json");
  EXPECT_TRUE(acls.authorize(AclAction::kRegisterAgent, some("rack-2"), std::nullopt).allowed);
  EXPECT_FALSE(acls.authorize(AclAction::kRegisterAgent, some("alpha"), std::nullopt).allowed);
  EXPECT_FALSE(acls.authorize(AclAction::kRegisterAgent, std::nullopt, std::nullopt).allowed);
}

void expectRefused(const std::string& text, const std::string& part) {
  try {
    parseAcls(text, "acls.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("acls.json")) << text;
    EXPECT_THAT(e.what(), HasSubstr(part)) << text;
  }
}

TEST(AclsTest, BadFilesAreRefusedNamingThePlace) {
  expectRefused("{\n  \"permissive\": false,\n  \"run_tasks\": [}\n", "acls.json:3:17: not JSON");
  expectRefused("[]", "a JSON object");
  expectRefused(R"({"permissive": "no"})", "permissive: must be true or false");
  // Mesos lists allot does not enforce are named, not ignored.
  expectRefused(R"({"teardown_frameworks": []})", "\"teardown_frameworks\" is not a list allot");
  expectRefused(R"({"run_tasks": {}})", "run_tasks: must be a list of rules");
  expectRefused(R"({"run_tasks": [{"users": {"type": "ANY"}}]})",
                "run_tasks[0]: \"principals\" missing");
  expectRefused(R"({"run_tasks": [{"principals": {"type": "ANY"}}]})",
                "run_tasks[0]: \"users\" missing");
  expectRefused(R"({"register_frameworks": [{"principals": {"type": "ANY"},
                    "users": {"type": "ANY"}}]})",
                "register_frameworks[0]: unknown field \"users\"");
  expectRefused(R"({"run_tasks": [{"principals": {"values": []}, "users": {"type": "ANY"}}]})",
                "run_tasks[0].principals.values: must be a non-empty list");
  expectRefused(
      R"({"run_tasks": [{"principals": {"values": ["a", 3]}, "users": {"type": "ANY"}}]})",
      "run_tasks[0].principals.values: 3 is not a name");
  expectRefused(
      R"({"run_tasks": [{"principals": {"type": "ANY", "values": ["a"]}, "users": {"type": "ANY"}}]})",
      "run_tasks[0].principals: \"values\" go with no type");
  expectRefused(R"({"run_tasks": [{"principals": {"type": "SOME"}, "users": {"type": "ANY"}}]})",
                "run_tasks[0].principals: names no one");
  expectRefused(R"({"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]})",
                "run_tasks[0].principals.type: must be \"ANY\", \"NONE\" or \"SOME\"");
  expectRefused(R"({"register_agents": [{"principals": {"type": "ANY"},
                    "agents": {"values": ["a1"]}}]})",
                "register_agents[0].agents: must be {\"type\": \"ANY\"}");
}

// The README's example file reads, and means what the README says.
TEST(AclsTest, TheExampleFileMeansWhatTheReadmeSays) {
  const Acls acls = readAclFile(ALLOT_SOURCE_DIR "/examples/acls.json");
  const auto allowed = [&](AclAction action, const char* principal,
                           std::optional<std::string> object) {
    return acls.authorize(action, some(principal), object).allowed;
  };
  EXPECT_TRUE(allowed(AclAction::kRegisterFramework, "me", some("*")));
  EXPECT_TRUE(allowed(AclAction::kRegisterFramework, "me", some("analytics")));
  EXPECT_FALSE(allowed(AclAction::kRegisterFramework, "me", some("prod")));
  EXPECT_FALSE(allowed(AclAction::kRegisterFramework, "agent1", some("*")));
  EXPECT_TRUE(allowed(AclAction::kRunTask, "me", some("alice")));
  EXPECT_TRUE(allowed(AclAction::kRunTask, "me", std::nullopt));
  EXPECT_FALSE(allowed(AclAction::kRunTask, "me", some("root")));
  EXPECT_FALSE(allowed(AclAction::kRunTask, "agent1", some("alice")));
  EXPECT_TRUE(allowed(AclAction::kRegisterAgent, "agent1", std::nullopt));
  EXPECT_FALSE(allowed(AclAction::kRegisterAgent, "me", std::nullopt));
}

class AclFileTest : public ::testing::Test {
 protected:
  AclFileTest() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("allot-acl-test-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "acls.json").string();
  }
  ~AclFileTest() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(AclFileTest, MissingFileIsRefusedNamingIt) {
  try {
    readAclFile(path_);
    ADD_FAILURE() << "read a missing file";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--acls " + path_ + ": cannot read it"));
  }
}

TEST_F(AclFileTest, EditsApplyAndABrokenEditKeepsTheLastGoodAcls) {
  write(kFooInBar);
  ReloadingFile<Acls> file(path_, readAclFile);
  std::vector<std::string> warnings;
  const auto warn = [&](const std::string& w) { warnings.push_back(w); };
  const auto fooInBaz = [&] {
    return file.get(warn)
        .authorize(AclAction::kRegisterFramework, some("foo"), some("baz"))
        .allowed;
  };
  EXPECT_FALSE(fooInBaz());
  // Sizes differ at each edit: the file's time may not move within a test.
  write(R"({"permissive": true})");
  EXPECT_TRUE(fooInBaz());
  write(R"({"permissive": true, "run_tasks": 7})");
  EXPECT_TRUE(fooInBaz());  // the last good ACLs
  EXPECT_TRUE(fooInBaz());
  ASSERT_EQ(warnings.size(), 1u);  // said once
  EXPECT_THAT(warnings[0], HasSubstr("run_tasks: must be a list of rules"));
  write(kFooInBar);
  EXPECT_FALSE(fooInBaz());
  EXPECT_EQ(warnings.size(), 1u);
  // A removed file keeps the last ACLs too.
  std::filesystem::remove(path_);
  EXPECT_FALSE(fooInBaz());
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_THAT(warnings[1], HasSubstr("cannot read it"));
}

}  // namespace
}  // namespace allot::runtime::master
