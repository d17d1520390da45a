import BackupTransport
import Testing

/// The XML reader the S3 client parses answers with (in place of FoundationXML, which links libxml2).
@Suite struct XMLWalkerTests {
    static func elements(_ xml: String) -> (ok: Bool, starts: [String], elements: [String]) {
        var starts: [String] = [], elements: [String] = []
        let ok = XMLWalker.walk(Array(xml.utf8), onStart: { starts.append($0) }) { path, text in elements.append("\(path)=\(text)") }
        return (ok, starts, elements)
    }

    @Test func aListingWithEntitiesCDATAAndEmptyElements() {
        let result = Self.elements("""
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><!-- a comment -->\
        <Contents><Key>a &amp; b &lt;c&gt; &#233;&#x1F600;.tar.gz</Key><ETag>&quot;abc&quot;</ETag><Owner/></Contents>\
        <Contents><Key><![CDATA[x<y>&z]]></Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>
        """)
        #expect(result.ok)
        #expect(result.starts.filter { $0 == "ListBucketResult/Contents" }.count == 2)
        #expect(result.elements.contains("ListBucketResult/Contents/Key=a & b <c> é😀.tar.gz"))
        #expect(result.elements.contains("ListBucketResult/Contents/ETag=\"abc\""))
        #expect(result.elements.contains("ListBucketResult/Contents/Owner="))
        #expect(result.elements.contains("ListBucketResult/Contents/Key=x<y>&z"))
        #expect(result.elements.last == "ListBucketResult=")
    }

    @Test(arguments: [
        "<Error><Code>x</Error>", "<Error><Code>x</Code>", "<A>&bogus;</A>", "<A>&amp</A>", "<A></A><B></B>", "", "just text",
        "<!DOCTYPE x [<!ENTITY e \"boom\">]><A>&e;</A>", "<A><![CDATA[open</A>",
    ])
    func malformedDocumentsAreRejected(xml: String) {
        #expect(!Self.elements(xml).ok, "\(xml)")
    }
}
