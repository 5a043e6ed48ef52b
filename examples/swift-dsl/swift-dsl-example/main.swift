// Prints the example nets written in Swift (SparkNetExamples) as Caffe prototxt, and runs the
// define → train → export example. See examples/swift-dsl/README.md.
import Foundation
import SparkNet
import SparkNetExamples

let usage = """
usage: swift-dsl-example NET [--solver]   print NET (or its solver) as prototxt
       swift-dsl-example list             the nets: \(ExampleNets.all.map(\.name).joined(separator: ", "))
       swift-dsl-example demo DIR [STEPS] train a small Swift-defined net, write DIR/points.{caffemodel,prototxt}
"""

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("swift-dsl-example: error: \(message)\n".utf8))
    exit(1)
}

func run(_ args: [String]) throws {
    guard let verb = args.first, !["-h", "--help", "help"].contains(verb) else { print(usage); return }
    switch verb {
    case "list":
        for e in ExampleNets.all { print("\(e.name)\t\(e.twin)") }
    case "demo":
        guard args.count == 2 || args.count == 3 else { fail("demo takes DIR [STEPS]\n\(usage)") }
        guard let steps = Int(args.count == 3 ? args[2] : "100"), steps >= 0 else { fail("demo: STEPS must be a non-negative integer, got '\(args[2])'") }
        let r = try ExampleNets.trainAndExport(directory: args[1], steps: steps)
        print("before: loss = \(r.before["loss"]!), accuracy = \(r.before["accuracy"]!)")
        print("after \(steps) steps: loss = \(r.after["loss"]!), accuracy = \(r.after["accuracy"]!)")
        print("wrote \(args[1])/points.caffemodel and \(args[1])/points.prototxt")
    default:
        let solver = args.dropFirst() == ["--solver"]
        guard args.count == 1 || solver else { fail("unexpected arguments \(args.dropFirst())\n\(usage)") }
        if solver {
            guard let s = ExampleNets.solvers.first(where: { $0.name == verb }) else {
                fail("no solver for '\(verb)' (solvers: \(ExampleNets.solvers.map(\.name).joined(separator: ", ")))")
            }
            try s.solver.validate()
            print("# \(verb) solver, written by swift-dsl-example (twin: \(s.twin))")
            print(s.solver.prototxt, terminator: "")
        } else {
            guard let e = ExampleNets.all.first(where: { $0.name == verb }) else {
                fail("unknown net '\(verb)' (nets: \(ExampleNets.all.map(\.name).joined(separator: ", ")))")
            }
            try e.net.validate()
            print("# \(verb), written by swift-dsl-example (twin: \(e.twin))")
            print(e.net.prototxt, terminator: "")
        }
    }
}

do {
    try run(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)")
}
