// Converts an XML add-in manifest to Microsoft's JSON (unified) manifest with Microsoft's
// office-addin-manifest-converter package, offline (no image download).
// Usage: node office_convert_manifest.js <node_modules folder> <manifest.xml> <output folder>
const path = require("path");
const converter = require(path.resolve(process.argv[2], "office-addin-manifest-converter"));
converter.convert(process.argv[3], process.argv[4], false).then(
  () => process.exit(0),
  (error) => { console.error(String(error)); process.exit(3); },
);
