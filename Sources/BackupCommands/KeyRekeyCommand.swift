import ArgumentParser
import BackupKit
import Foundation

extension KeyCommand {
    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rekey",
            abstract: "Give the encrypted sets in a sink new recipients, rewriting only each artifact's age header.",
            discussion: """
            Each artifact's file key is unwrapped with the old identity (--identity) and wrapped for the \
            new recipients; the payload is not touched, so the old identity no longer opens the set and the \
            new ones do. On S3 the rest of each object is copied inside the server (UploadPartCopy): only \
            the header and 5 MiB pass through this host, whatever the size. Other sinks read each object and \
            store it again. The sealed manifest is encrypted to the new recipients and records the rekey; it \
            is signed with the plan's signing key, so run this on the backup host (or where the key file is).

            It is crash-safe: the new headers are first signed as pending, then written, then signed as the \
            only ones. Run it again to finish a rekey that stopped; every set restores in between. \
            Afterwards, put the new recipients in the plan's encryption section, or new sets go on being \
            encrypted to the old ones.
            Exit codes: 0 rekeyed; 9 no encrypted set; 17 no identity given; 18 the identity opens no set;
            21 an artifact's header was changed; 2 usage.
            """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var identities: IdentityOptions

        @Option(name: .long, help: ArgumentHelp("The encrypted sink to rekey.", valueName: "NAME"))
        var sink: String

        @Option(name: .long, help: ArgumentHelp("A new recipient (age1…); repeatable.", valueName: "RECIPIENT"))
        var recipient: [String] = []

        @Option(name: .customLong("recipients-file"), help: ArgumentHelp("New recipients, one per line (as age -R).", valueName: "FILE"))
        var recipientsFile: [String] = []

        @Option(name: .long, help: ArgumentHelp("Only this set (YYYYMMDD_HHMMSS); default: every encrypted set in the sink.", valueName: "TIMESTAMP"))
        var set: String?

        func run() async throws {
            do {
                var plan = try global.loadPlan()
                plan.identities = try identities.load()
                let sinks = try plan.selectedSinks(sink)
                var recipients = try recipient.map { try AgeRecipient(parsing: $0) }
                for file in recipientsFile { recipients += try EncryptionSettings.readRecipientsFile(file) }
                let results = try await Rekeyer(plan: plan, logger: global.makeLogger()).rekey(sink: sinks[0], to: recipients, only: try set.map(parseTimestamp))
                if global.json {
                    Terminal.json(["sets": results], schema: .keyRekey)
                } else {
                    for result in results {
                        Terminal.out("set \(result.set): \(result.artifacts.count) artifact(s) rekeyed (\(result.method))")
                    }
                    Terminal.error("backupctl: remember to give the plan's encryption section the new recipients")
                }
            } catch let error as ExitCode {
                throw error
            } catch {
                throw fail(error)
            }
        }
    }
}
