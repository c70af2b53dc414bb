// The paper's Figure 2 program on a connected client.
#include "examples/figure2_program.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"

namespace pw::examples {
namespace {

using pw::ir::FunctionBuilder;
using pw::ir::Value;

std::string Format(const pw::ir::Literal& l) {
  auto v = l.data<float>();
  return "[" + absl::StrJoin(v.begin(), v.end(), ", ") + "]";
}

}  // namespace

absl::StatusOr<std::string> RunFigure2(Client& client) {
  // get_devices(2) for each function, as in the paper: the resource manager spreads the three
  // slices over the island's devices, so some calls read data living on another host.
  auto scalar = [](FunctionBuilder& b, Value x, double v) { return b.ScalarLike(b.TypeOf(x).dtype, v); };
  PW_ASSIGN_OR_RETURN(pw::VirtualSlice da, client.GetDevices(2));
  PW_ASSIGN_OR_RETURN(pw::VirtualSlice db, client.GetDevices(2));
  PW_ASSIGN_OR_RETURN(pw::VirtualSlice dc, client.GetDevices(2));
  pw::PmapFunction a = client.Pmap("a", da, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Multiply(x[0], scalar(b, x[0], 2.0))};
  });
  pw::PmapFunction b = client.Pmap("b", db, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], scalar(b, x[0], 1.0))};
  });
  pw::PmapFunction c = client.Pmap("c", dc, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Divide(x[0], scalar(b, x[0], 2.0))};
  });

  pw::ProgramTracer f(client, "f");
  pw::Traced v = f.Input({{pw::ir::DType::kF32, {}}, da.id});
  pw::Traced x = a(f, {v})[0];
  pw::Traced y = b(f, {x})[0];
  pw::Traced z = a(f, {c(f, {x})[0]})[0];
  PW_ASSIGN_OR_RETURN(pw::Program program, f.Build({y, z}));

  PW_ASSIGN_OR_RETURN(pw::Array input, client.PutGlobal(da, pw::ir::Literal::Create<float>({2}, {1.0f, 2.0f})));
  PW_ASSIGN_OR_RETURN(std::vector<pw::Array> out, program.Run({input}));
  PW_ASSIGN_OR_RETURN(pw::ir::Literal ly, out[0].ToLiteral());
  PW_ASSIGN_OR_RETURN(pw::ir::Literal lz, out[1].ToLiteral());
  return absl::StrCat("f([1., 2.]) = (", Format(ly), ", ", Format(lz), ")");
}

}  // namespace pw::examples
