#include "allot/core/resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "allot/core/cluster.h"
#include "allot/core/error.h"

namespace allot {
namespace {

using ::testing::HasSubstr;

// The Mesos text syntax parses into scalars, ranges and sets.
TEST(ResourcesTest, ParsesMesosSyntax) {
  const Resources r = Resources::parse("cpus:4;mem:8192;ports:[31000-32000];disks:{sda,sdb}");
  EXPECT_DOUBLE_EQ(r.scalar("cpus"), 4);
  EXPECT_DOUBLE_EQ(r.scalar("mem"), 8192);
  EXPECT_EQ(r.ranges("ports"), (Ranges{{31000, 32000}}));
  EXPECT_EQ(toString(r), "cpus:4;mem:8192;ports:[31000-32000];disks:{sda,sdb}");
}

// A role in parentheses puts the amount in that role's pool, apart from "*".
TEST(ResourcesTest, ParsesReservedForm) {
  const Resources r = Resources::parse("cpus:4;cpus(analytics):2;mem(analytics):512");
  EXPECT_DOUBLE_EQ(r.scalar("cpus"), 4);
  EXPECT_DOUBLE_EQ(r.scalar("cpus", "analytics"), 2);
  EXPECT_DOUBLE_EQ(r.scalar("mem", "analytics"), 512);
  EXPECT_EQ(r.pools().size(), 2u);
  EXPECT_DOUBLE_EQ(r.totalScalars()[0], 6);
  EXPECT_EQ(toString(r), "cpus:4;cpus(analytics):2;mem(analytics):512");
}

// Parse errors name the bad token and say what is wrong with it.
TEST(ResourcesTest, ParseErrorNamesBadToken) {
  try {
    Resources::parse("cpus:4;mem:lots;disk:10");
    FAIL() << "expected ParseError";
  } catch (const ParseError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'mem:lots'"));
    EXPECT_THAT(e.what(), HasSubstr("position 7"));
    EXPECT_THAT(e.what(), HasSubstr("not a number"));
  }
  EXPECT_THROW(Resources::parse("cpus"), ParseError);
  EXPECT_THROW(Resources::parse("cpus:-1"), ParseError);
  EXPECT_THROW(Resources::parse("ports:[5-1]"), ParseError);
  EXPECT_THROW(Resources::parse("ports:[1-2"), ParseError);
  EXPECT_THROW(Resources::parse("cpus(:1"), ParseError);
  EXPECT_THROW(Resources::parse("cpus:nan"), ParseError);
  try {
    Resources::parse("cpus:1;ports:[31000-x]");
    FAIL() << "expected ParseError";
  } catch (const ParseError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'ports:[31000-x]'"));
    EXPECT_THAT(e.what(), HasSubstr("31000-x"));
  }
}

// Arithmetic works pool by pool and clamps scalars at zero.
TEST(ResourcesTest, ArithmeticPerPool) {
  Resources a = Resources::parse("cpus:4;mem:1024;cpus(web):2;ports:[1-100]");
  const Resources b = Resources::parse("cpus:1;cpus(web):2;ports:[10-19]");
  const Resources diff = a - b;
  EXPECT_DOUBLE_EQ(diff.scalar("cpus"), 3);
  EXPECT_DOUBLE_EQ(diff.scalar("cpus", "web"), 0);
  EXPECT_EQ(diff.ranges("ports"), (Ranges{{1, 9}, {20, 100}}));
  EXPECT_EQ(diff + b, a);
  a -= Resources::parse("cpus:10");
  EXPECT_DOUBLE_EQ(a.scalar("cpus"), 0);
}

// Containment is per pool: unreserved resources do not cover reserved ones.
// plainScalars: the unreserved scalars, only when they are all there is.
TEST(ResourcesTest, PlainScalarsOnlyForUnreservedScalarsAlone) {
  const Resources plain = Resources::parse("cpus:2;mem:1024");
  ASSERT_NE(plain.plainScalars(), nullptr);
  EXPECT_EQ(*plain.plainScalars(), plain.scalars());
  EXPECT_EQ(Resources().plainScalars(), nullptr);
  EXPECT_EQ(Resources::parse("cpus:2;ports:[1-2]").plainScalars(), nullptr);
  EXPECT_EQ(Resources::parse("cpus(web):2").plainScalars(), nullptr);
  EXPECT_EQ(Resources::parse("cpus:1;cpus(web):2").plainScalars(), nullptr);
  EXPECT_TRUE(plain.plain());
  EXPECT_TRUE(Resources().plain());
  EXPECT_FALSE(Resources::parse("cpus:2;ports:[1-2]").plain());
  EXPECT_FALSE(Resources::parse("cpus(web):2").plain());
}

TEST(ResourcesTest, ContainsRespectsRoles) {
  const Resources agent = Resources::parse("cpus:4;mem:1024");
  EXPECT_TRUE(agent.contains(Resources::parse("cpus:4")));
  EXPECT_FALSE(agent.contains(Resources::parse("cpus:4.5")));
  EXPECT_FALSE(agent.contains(Resources::parse("cpus(web):1")));
  EXPECT_TRUE(Resources::parse("cpus(web):1").contains(Resources::parse("cpus(web):0.5")));
}

// Fractional sums compare as people expect (0.1 + 0.2 fits in 0.3).
TEST(ResourcesTest, FractionalSumsFit) {
  Resources used = Resources::parse("cpus:0.1");
  used += Resources::parse("cpus:0.2");
  EXPECT_TRUE(Resources::parse("cpus:0.3").contains(used));
  EXPECT_TRUE((Resources::parse("cpus:0.3") - used).empty());
}

// Names outside the standard table extend it; arithmetic across tables that
// grew differently still lines names up.
TEST(ResourcesTest, CustomNamesAcrossTables) {
  const Resources a = Resources::parse("cpus:1;fpgas:2");
  const Resources b = Resources::parse("cpus:1;licenses:5");
  const Resources sum = a + b;
  EXPECT_DOUBLE_EQ(sum.scalar("cpus"), 2);
  EXPECT_DOUBLE_EQ(sum.scalar("fpgas"), 2);
  EXPECT_DOUBLE_EQ(sum.scalar("licenses"), 5);
  EXPECT_TRUE(sum.contains(b));
  EXPECT_FALSE(a.contains(b));
}

// Values over the standard table, however made, have the same table: default
// construction, an explicit Dimensions::standard(), a rebase back to it; a
// value that grew a custom name keeps its own table through copies and moves,
// and a moved-from value stays usable.
TEST(ResourcesTest, DimensionTablesAreKeptThroughCopiesAndMoves) {
  Resources implicit;
  Resources explicitStandard(Dimensions::standard());
  implicit.setScalar("cpus", 2);
  explicitStandard.setScalar("cpus", 2);
  EXPECT_EQ(implicit.dimensions(), Dimensions::standard());
  EXPECT_EQ(explicitStandard.dimensions(), Dimensions::standard());
  EXPECT_TRUE(implicit.identical(explicitStandard));

  Resources custom = Resources::parse("cpus:1;fpgas:2");
  EXPECT_NE(custom.dimensions(), Dimensions::standard());
  EXPECT_EQ(custom.dimensions()->names().back(), "fpgas");
  const Resources copy = custom;
  EXPECT_TRUE(copy.identical(custom));
  Resources moved = std::move(custom);
  EXPECT_EQ(moved.dimensions(), copy.dimensions());
  EXPECT_DOUBLE_EQ(moved.scalar("fpgas"), 2);
  custom = Resources();  // moved-from, reassigned: usable again
  custom.setScalar("mem", 64);
  EXPECT_DOUBLE_EQ(custom.scalar("mem"), 64);
  EXPECT_EQ(custom.dimensions(), Dimensions::standard());

  const Resources back = Resources::parse("cpus:3").rebased(Dimensions::standard());
  EXPECT_TRUE(back.identical(Resources::parse("cpus:3")));
  EXPECT_THROW(moved.rebased(Dimensions::standard()), InvalidArgument);  // fpgas has no slot
}

// More distinct scalar names than the fixed vector holds is a clear error.
TEST(ResourcesTest, TooManyScalarNamesIsAnError) {
  EXPECT_THROW(Resources::parse("a:1;b:1;c:1;d:1;e:1"), InvalidArgument);
}

// Copies share storage until one changes; changing a copy (or the original)
// never shows through the other.
TEST(ResourcesTest, CopiesAreIndependentValues) {
  const Resources original =
      Resources::parse("cpus:4;mem:512;ports:[1-2, 4-5, 7-8, 10-11, 13-14];disks:{a,b}");
  Resources copy = original;
  EXPECT_TRUE(copy.sharesWith(original));
  copy.setScalar("cpus", 1);
  copy -= Resources::parse("ports:[4-5]");
  copy += Resources::parse("disks:{c};cpus(web):1");
  EXPECT_FALSE(copy.sharesWith(original));
  EXPECT_EQ(toString(original), "cpus:4;mem:512;ports:[1-2, 4-5, 7-8, 10-11, 13-14];disks:{a,b}");
  EXPECT_EQ(toString(copy),
            "cpus:1;mem:512;ports:[1-2, 7-8, 10-11, 13-14];disks:{a,b,c};cpus(web):1");

  Resources other = original;
  Resources moved = std::move(other);
  EXPECT_TRUE(moved.sharesWith(original));
  moved = copy;
  EXPECT_TRUE(moved.identical(copy));
  EXPECT_TRUE(original.contains(original.unreserved()));
}

// Arithmetic with a shared copy, or with the value itself, is exact.
TEST(ResourcesTest, ArithmeticWithSharedCopies) {
  const Resources r = Resources::parse("cpus:2;mem:64;ports:[10-20, 30-40]");
  Resources a = r;
  a -= r;  // everything given back
  EXPECT_TRUE(a.empty());
  Resources b = r;
  b += b;
  EXPECT_DOUBLE_EQ(b.scalar("cpus"), 4);
  EXPECT_EQ(b.ranges("ports"), (Ranges{{10, 20}, {30, 40}}));
  EXPECT_DOUBLE_EQ(r.scalar("cpus"), 2);
  Resources c = r;
  c -= c;
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(r.empty());
  Resources empty;
  empty += r;
  EXPECT_TRUE(empty.identical(r));
  empty -= Resources::parse("cpus:1");
  EXPECT_DOUBLE_EQ(empty.scalar("cpus"), 1);
  EXPECT_DOUBLE_EQ(r.scalar("cpus"), 2);
}

// capScalars lowers scalars pool by pool to the limit's, leaves ranges,
// sets and scalars within the limit as they are, and empties a pool the limit
// lacks of scalars.
TEST(ResourcesTest, CapScalarsLowersEachPoolToTheLimit) {
  Resources r = Resources::parse("cpus:3.000000001;mem:10;ports:[1-5];cpus(a):2;gpus(b):1");
  const Resources limit = Resources::parse("cpus:3;mem:64;cpus(a):1.5;ports:[2-3]");
  ASSERT_TRUE(limit.contains(Resources::parse("cpus:3.000000001")));  // within tolerance
  r.capScalars(limit);
  EXPECT_EQ(toString(r), "cpus:3;mem:10;ports:[1-5];cpus(a):1.5");
  Resources back = limit;
  back -= r;
  EXPECT_DOUBLE_EQ(back.scalar("cpus"), 0);
  EXPECT_DOUBLE_EQ(back.scalar("cpus", "a"), 0);

  // Within the limit: unchanged, and still sharing its pools with copies.
  const Resources within = Resources::parse("cpus:1;mem:8");
  Resources copy = within;
  copy.capScalars(limit);
  EXPECT_TRUE(copy.sharesWith(within));
  copy.capScalars(copy);
  EXPECT_TRUE(copy.sharesWith(within));
  Resources none;
  none.capScalars(limit);
  EXPECT_TRUE(none.empty());
  // A limit over a wider table caps over it.
  DimensionsPtr wide = Dimensions::with(Dimensions::standard(), "fpgas");
  Resources big = Resources::parse("cpus:2;fpgas:4", wide);
  Resources small = Resources::parse("cpus:5");
  small.capScalars(big);
  EXPECT_EQ(toString(small), "cpus:2");
  big.capScalars(Resources::parse("fpgas:1", wide));
  EXPECT_EQ(toString(big), "fpgas:1");
}

// fitsIn compares every component with a small relative tolerance; a NaN
// exceeds nothing, and a negative amount on the right fits only zero-ish.
TEST(ResourcesTest, FitsInComparesEveryComponent) {
  Scalars a = Scalars::Zero();
  Scalars b = Scalars::Zero();
  EXPECT_TRUE(fitsIn(a, b));
  a[0] = 0.1 + 0.2;
  b[0] = 0.3;
  EXPECT_TRUE(fitsIn(a, b));
  for (int i = 0; i < kMaxScalarDims; ++i) {
    Scalars more = b;
    more[i] += 1.0;
    EXPECT_FALSE(fitsIn(more, b)) << "component " << i;
    EXPECT_TRUE(fitsIn(b, more)) << "component " << i;
    Scalars negative = Scalars::Zero();
    negative[i] = -1.0;
    EXPECT_FALSE(fitsIn(Scalars::Zero(), negative)) << "component " << i;
    Scalars nan = Scalars::Zero();
    nan[i] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_TRUE(fitsIn(nan, Scalars::Zero())) << "NaN compares false, so it is not 'over'";
  }
  b[7] = 1e12;
  a[7] = 1e12 + 100.0;  // within 1e-9 relative
  EXPECT_TRUE(fitsIn(a, b));
  a[7] = 1e12 + 10000.0;
  EXPECT_FALSE(fitsIn(a, b));
}

TEST(AttributesTest, ParsesAndReportsErrors) {
  const Attributes attrs = Attributes::parse("rack:r1;zone:a");
  EXPECT_EQ(attrs.get("rack"), "r1");
  EXPECT_EQ(attrs.get("zone"), "a");
  EXPECT_FALSE(attrs.get("host").has_value());
  EXPECT_EQ(toString(attrs), "rack:r1;zone:a");
  EXPECT_THROW(Attributes::parse("rack"), ParseError);
}

}  // namespace
}  // namespace allot
