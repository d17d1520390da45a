import ArgumentParser
import BackupKit

struct FindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find where a file appears across the good sets of a sink, newest set first.",
        discussion: """
        PATTERN is a glob: with a '/', it is matched against the whole path below the source's root \
        (like `restore --path`); without one, against each path's last name (`*.pdf`, `invoice-2024*`). \
        It reads each set's index (incremental sets) or tar (full sets).
        Exit codes: 0 found, 2 bad arguments, 3 an artifact is damaged, 9 nothing found.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("What to find.", valueName: "PATTERN"))
    var pattern: String

    @Option(name: .long, help: ArgumentHelp("Search this sink; default: the first sink, local ones first.", valueName: "NAME"))
    var sink: String?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Only this source (repeatable).", valueName: "SOURCE"))
    var only: [String] = []

    struct Match: Encodable {
        var set: SetTimestamp
        var entry: ContentEntry
    }

    struct Output: Encodable {
        var sink: String
        var matches: [Match]
    }

    func run() async throws {
        do {
            let plan = try global.loadPlan()
            let browsing = SetBrowsing(plan: plan, only: only, logger: global.makeLogger())
            defer { browsing.removeStaging() }
            let (sink, _) = try await browsing.locate(nil, sink: sink)
            let catalog = try await plan.catalog(in: sink)
            let glob = GlobPattern(pattern)
            let byName = !pattern.contains("/")
            let json = global.json
            var matches: [Match] = []
            for set in catalog.sets.reversed() where set.isGood {
                for artifact in try browsing.treeArtifacts(of: set, in: sink) {
                    let reader = try await browsing.reader(artifact, of: set, in: sink)
                    let timestamp = set.timestamp
                    matches += try await runBlocking {
                        var found: [Match] = []
                        while let entry = try reader.next() {
                            let name = byName ? (entry.path.components.last ?? entry.path) : entry.path
                            guard glob.matches(name, isDirectory: entry.kind == .directory) else { continue }
                            if !json { Terminal.out("\(timestamp)  \(entry.line)") }
                            found.append(Match(set: timestamp, entry: entry))
                        }
                        return found
                    }
                }
            }
            if matches.isEmpty {
                throw BackupError(.notFound, "no path in the good sets of sink '\(sink.name)' matches \(pattern)")
            }
            if json { Terminal.json(Output(sink: sink.name, matches: matches), schema: .find) }
        } catch {
            throw fail(error)
        }
    }
}
