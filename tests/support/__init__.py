"""Test infrastructure shared by the tests, the benchmarks and ``make demo``: the
namespace lab, the node daemon driver, the cluster harness. Not part of the product
(the wheel contains none of it)."""
