// Renders MDX documents to HTML with the real @mdx-js/mdx: compiled, then run (as a site would
// run them) through a small JSX runtime that writes HTML strings. Reads a JSON array of documents
// on stdin and prints an array of {"html": ...} or {"error": ...} (a document that does not
// compile or throws when run). argv[2]: the folder whose node_modules holds @mdx-js/mdx.
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

const {evaluate} = await import(pathToFileURL(join(process.argv[2], 'node_modules', '@mdx-js', 'mdx', 'index.js')).href)

const Fragment = Symbol('Fragment')
const jsx = (type, props) => ({type, props})
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'])
const NAMES = {className: 'class', htmlFor: 'for'}

function escape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function render(node) {
  if (node === null || node === undefined || typeof node === 'boolean') return ''
  if (typeof node === 'string' || typeof node === 'number') return escape(node)
  if (Array.isArray(node)) return node.map(render).join('')
  const {type, props} = node
  if (type === Fragment) return render(props.children)
  if (typeof type === 'function') return render(type(props))
  let attributes = ''
  for (const [name, value] of Object.entries(props)) {
    if (name === 'children' || value === undefined || value === null || value === false || typeof value === 'function') continue
    attributes += ' ' + (NAMES[name] || name) + (value === true ? '' : '="' + escape(typeof value === 'object' ? JSON.stringify(value) : value) + '"')
  }
  return '<' + type + attributes + '>' + (VOID.has(type) ? '' : render(props.children) + '</' + type + '>')
}

let input = ''
for await (const chunk of process.stdin) input += chunk
const results = []
for (const doc of JSON.parse(input)) {
  try {
    const {default: Content} = await evaluate(doc, {Fragment, jsx, jsxs: jsx, baseUrl: import.meta.url})
    results.push({html: render(jsx(Content, {}))})
  } catch (error) {
    results.push({error: String((error && error.message) || error)})
  }
}
console.log(JSON.stringify(results))
