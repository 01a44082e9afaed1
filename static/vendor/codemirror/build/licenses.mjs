// Writes ../LICENSES.txt: the license of every package that ends up in codemirror.min.js.
import { readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";

const meta = JSON.parse(readFileSync("meta.json", "utf8"));
const inputs = Object.keys(Object.values(meta.outputs)[0].inputs);
const packages = new Set();
for (const input of inputs) {
  const rest = input.split("node_modules/")[1];
  if (!rest) continue;
  const parts = rest.split("/");
  packages.add(parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]);
}
const sections = [...packages].sort().map((name) => {
  const dir = `node_modules/${name}`;
  const { version, license } = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file && existsSync(`${dir}/${file}`) ? readFileSync(`${dir}/${file}`, "utf8").trim() : `License: ${license}`;
  return `${name} ${version} (${license})\n${"-".repeat(60)}\n${text}\n`;
});
writeFileSync("../LICENSES.txt", sections.join("\n"));
console.log(`Wrote ../LICENSES.txt for ${sections.length} packages`);
