// Reads an add-in manifest with Microsoft's office-addin-manifest package (offline) and prints what it
// understood as JSON. Usage: node office_read_manifest.js <node_modules folder> <manifest.xml>
const path = require("path");
const tooling = require(path.resolve(process.argv[2], "office-addin-manifest"));
tooling.OfficeAddinManifest.readManifestFile(process.argv[3]).then(
  (info) => console.log(JSON.stringify(info)),
  (error) => { console.error(String(error)); process.exit(3); },
);
