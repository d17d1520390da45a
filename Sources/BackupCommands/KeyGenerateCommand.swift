import ArgumentParser
import BackupKit
import Foundation

extension KeyCommand {
    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Write a new age identity (X25519) to a file of mode 0600 and print its recipient (age1…).",
            discussion: """
            The file has age-keygen's layout (a comment with the creation time and the public key, then the \
            AGE-SECRET-KEY-1… line), so `age -d -i FILE` reads what BackupKit encrypts to its recipient. \
            An existing file is never overwritten.

            Recommended: one identity per team, kept on the hosts (or in the vault) that restore, and a \
            second one kept offline for recovery; both recipients on every encrypted sink. A host that only \
            backs up needs the recipients, never an identity. \
            With --passphrase the file is itself an age file encrypted with a passphrase (scrypt), as \
            `age-keygen | age -p` makes: keep it offline as the recovery key. Its recipient goes into the \
            plan beside the team's, so every set opens with either (scrypt recipients cannot share a file \
            with others, so a bare passphrase recipient could not).
            Exit codes: 0 written, 2 the file exists or cannot be written.
            """
        )

        @Option(name: .shortAndLong, help: ArgumentHelp("The identity file to write.", valueName: "FILE"))
        var output: String

        @Flag(name: .long, help: "Print the result as JSON.")
        var json = false

        struct Generated: Encodable {
            var identityFile: String
            var recipient: String

            enum CodingKeys: String, CodingKey {
                case recipient
                case identityFile = "identity_file"
            }
        }

        @Flag(name: .long, help: "Encrypt the identity file with a passphrase (asked twice on the terminal, or $BACKUP_ENCRYPTION_PASSPHRASE): an offline recovery key that is useless without the passphrase. `age -d -i FILE` asks for it too.")
        var passphrase = false

        func run() async throws {
            let identity = AgeIdentity.generate()
            guard let recipient = identity.recipient.text else { throw ExitCode(ExitCodes.failure) }
            do {
                let secret = passphrase ? try Passphrase.obtain(prompt: "passphrase for the new identity: ", confirm: true) : nil
                try IdentityFile.write(identity, to: output, passphrase: secret)
            } catch {
                throw fail(error)
            }
            if json {
                Terminal.json(Generated(identityFile: output, recipient: recipient), schema: .keyGenerate)
            } else {
                Terminal.out(recipient)
                Terminal.error("backupctl: wrote the identity to \(output) (mode 0600\(passphrase ? ", passphrase-protected" : "")); its recipient is printed above")
            }
        }
    }
}
