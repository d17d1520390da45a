import ArgumentParser
import BackupKit
import Foundation

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "The plan's signing key (key show), age identities for encrypted copies (key generate), and new recipients for stored sets (key rekey).",
        subcommands: [Show.self, Generate.self, Rekey.self],
        defaultSubcommand: Show.self
    )
}

extension KeyCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show the public key that checks the plan's signed manifests, to give to restore hosts (the default).",
            discussion: """
            Every manifest a run writes is signed with the plan's Ed25519 key: signing.key_file, by default \
            .backupctl-<plan>.signing-key in the state directory, made (mode 0600) by the plan's first run or \
            by --create. restore, verify and list check each manifest with signing.public_key, else with \
            that file's public half. A restore host that must not hold the private key sets \
            signing.public_key to the ed25519:… line this command prints.

            Keep a copy of the key file apart from the backups: without it, new sets cannot be signed with \
            the same key (a new key makes older sets fail their check unless signing.public_key names the old \
            one). Never store it in a sink.
            Exit codes: 0 shown, 9 no key yet (without --create), 2 plan error.
            """
        )

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Make the key now if the plan has none yet.")
        var create = false

        struct KeyInfo: Encodable {
            var publicKey: String
            var keyID: String
            var keyFile: String?
            var created: Bool

            enum CodingKeys: String, CodingKey {
                case created
                case publicKey = "public_key"
                case keyID = "key_id"
                case keyFile = "key_file"
            }
        }

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let info: KeyInfo
                if create {
                    let (key, created) = try plan.signingKey()
                    info = KeyInfo(publicKey: key.publicKey.text, keyID: key.publicKey.id, keyFile: key.path, created: created)
                } else if let key = try plan.manifestPublicKey() {
                    let hasFile = FileManager.default.fileExists(atPath: plan.signingKeyPath)
                    info = KeyInfo(publicKey: key.text, keyID: key.id, keyFile: hasFile ? plan.signingKeyPath : nil, created: false)
                } else {
                    throw BackupError(.notFound, "plan '\(plan.name)' has no signing key yet: its first `backupctl run` makes one at \(plan.signingKeyPath), or run `backupctl key --create`")
                }
                if global.json {
                    Terminal.json(info, schema: .key)
                } else {
                    Terminal.out("public_key: \(info.publicKey)")
                    Terminal.out("key_id: \(info.keyID)")
                    Terminal.out("key_file: \(info.keyFile ?? "none on this host (signing.public_key)")\(info.created ? " (made now)" : "")")
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
