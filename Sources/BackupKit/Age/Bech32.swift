/// Bech32 (BIP 173) as age uses it: no length limit on the data part, all upper or all lower case, the
/// checksum always over the lower-case string. age encodes X25519 recipients (`age1…`) and identities
/// (`AGE-SECRET-KEY-1…`) with it.
enum Bech32 {
    private static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for (index, g) in generator.enumerated() where (top >> UInt32(index)) & 1 == 1 { checksum ^= g }
        }
        return checksum
    }

    private static func expanded(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Regroups bits: 8-bit bytes into 5-bit groups (`pad`), or back (no padding allowed).
    private static func regroup(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0, bits = 0
        var result: [UInt8] = []
        let mask = (1 << to) - 1
        for value in data {
            accumulator = accumulator << from | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                result.append(UInt8((accumulator >> bits) & mask))
            }
            accumulator &= (1 << bits) - 1
        }
        if pad {
            if bits > 0 { result.append(UInt8((accumulator << (to - bits)) & mask)) }
        } else if bits >= from || (accumulator << (to - bits)) & mask != 0 {
            return nil
        }
        return result
    }

    /// `hrp` (lower case) and `data` as a lower-case Bech32 string.
    static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = regroup(data, from: 8, to: 5, pad: true)!
        let checksum = polymod(expanded(hrpBytes) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        let checksumValues = (0..<6).map { UInt8((checksum >> UInt32(5 * (5 - $0))) & 31) }
        return String(decoding: hrpBytes + [UInt8(ascii: "1")] + (values + checksumValues).map { alphabet[Int($0)] }, as: UTF8.self)
    }

    /// The human-readable part (lower case) and the data of a Bech32 string, or nil when it is not one
    /// (mixed case, a bad character or checksum, bad padding).
    static func decode(_ text: String) -> (hrp: String, data: [UInt8])? {
        let bytes = Array(text.utf8)
        guard bytes.allSatisfy({ (33...126).contains($0) }) else { return nil }
        let lower = text.lowercased(), upper = text.uppercased()
        guard text == lower || text == upper else { return nil }
        let chars = Array(lower.utf8)
        guard let separator = chars.lastIndex(of: UInt8(ascii: "1")), separator >= 1, chars.count - separator > 6 else { return nil }
        let hrp = Array(chars[..<separator])
        var values: [UInt8] = []
        for char in chars[(separator + 1)...] {
            guard let index = alphabet.firstIndex(of: char) else { return nil }
            values.append(UInt8(index))
        }
        guard polymod(expanded(hrp) + values) == 1 else { return nil }
        guard let data = regroup(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else { return nil }
        return (String(decoding: hrp, as: UTF8.self), data)
    }
}
