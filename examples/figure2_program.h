// The paper's Figure 2 program, on whatever cluster a Client is connected to: three pmapped
// functions on 2 virtual devices each, traced into one program and run with parallel
// asynchronous dispatch.
//
//   a = pmap(lambda x: x * 2., devices=get_devices(2))
//   b = pmap(lambda x: x + 1., devices=get_devices(2))
//   c = pmap(lambda x: x / 2., devices=get_devices(2))
//   @pw.program
//   def f(v):
//     x = a(v); y = b(x); z = a(c(x))
//     return (y, z)
//   f([1., 2.])  ->  ([3., 5.], [2., 4.])
#ifndef EXAMPLES_FIGURE2_PROGRAM_H_
#define EXAMPLES_FIGURE2_PROGRAM_H_

#include <string>

#include "absl/status/statusor.h"
#include "pathways/client/client.h"

namespace pw::examples {

// Runs f([1., 2.]) on `client`'s cluster; returns "f([1., 2.]) = ([3, 5], [2, 4])".
absl::StatusOr<std::string> RunFigure2(Client& client);

}  // namespace pw::examples

#endif  // EXAMPLES_FIGURE2_PROGRAM_H_
