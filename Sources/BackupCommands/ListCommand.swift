import ArgumentParser
import BackupKit

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the plan's backup sets and artifacts in each sink, with their status.",
        discussion: """
        A set is good when its manifest is there and signed by the plan's key, every artifact it lists is \
        stored at its recorded size, and every artifact passed verification. Each set's signature is \
        valid, unsigned (written before BackupKit signed sets, or stripped), unchecked (this host has no \
        public key: set signing.public_key) or invalid (changed after it was signed, or another key's); \
        the text listing names it when it is not valid, --json always gives it as "signature".
        Exit codes: 0 listed, 1 a sink could not be listed.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Only this sink.", valueName: "NAME"))
    var sink: String?

    struct SinkListing: Encodable {
        var sink: String
        var sets: [SetListing]
        var error: String?
    }

    struct SetListing: Encodable {
        var timestamp: SetTimestamp
        /// When the set was taken in the plan's time zone, with the offset (`2024-11-30T03:00:00+01:00`).
        var localTime: String
        var status: String
        var problem: String?
        /// `valid`, `unsigned`, `unchecked` (no public key here) or `invalid`; absent without a usable manifest.
        var signature: String?
        var tag: String?
        var partial: Bool
        var size: Int64
        var artifacts: [ListedArtifact]

        enum CodingKeys: String, CodingKey {
            case timestamp, status, problem, signature, tag, partial, size, artifacts
            case localTime = "local_time"
        }
    }

    func run() async throws {
        let plan: BackupPlan
        let selected: [any Sink]
        do {
            plan = try global.loadPlan()
            selected = try plan.selectedSinks(sink)
        } catch { throw fail(error) }
        let zone = plan.resolvedSchedule.timeZone
        var listings: [SinkListing] = []
        for sink in selected {
            do {
                let catalog = try await plan.catalog(in: sink)
                listings.append(SinkListing(sink: sink.name, sets: catalog.sets.reversed().map { entry in
                    SetListing(timestamp: entry.timestamp, localTime: entry.timestamp.date.iso8601(in: zone), status: entry.isGood ? "good" : "bad", problem: entry.problem,
                               signature: entry.signature?.label,
                               tag: entry.tag, partial: entry.isPartial, size: entry.size,
                               artifacts: ListedArtifact.rows(entry.objects))
                }))
            } catch {
                listings.append(SinkListing(sink: sink.name, sets: [], error: "\(error)"))
            }
        }
        if global.json {
            Terminal.json(["sinks": listings], schema: .list)
        } else {
            for listing in listings {
                Terminal.out("sink '\(listing.sink)':")
                if let error = listing.error { Terminal.out("  cannot list: \(error)") }
                if listing.sets.isEmpty && listing.error == nil { Terminal.out("  no sets") }
                for set in listing.sets {
                    var line = "  \(set.timestamp)  \(LocalTime.text(set.timestamp.date, in: zone))  \(set.status)  \(set.artifacts.count) artifact(s)  \(formatBytes(set.size))"
                    if let signature = set.signature, signature != "valid" { line += "  signature: \(signature)" }
                    if let tag = set.tag { line += "  tag: \(tag)" }
                    if set.partial { line += "  partial" }
                    if let problem = set.problem { line += "  (\(problem))" }
                    Terminal.out(line)
                    for artifact in set.artifacts { Terminal.out("      \(artifact.name)  \(formatBytes(artifact.size))") }
                }
            }
        }
        if listings.contains(where: { $0.error != nil }) { throw ExitCode(ExitCodes.failure) }
    }
}
