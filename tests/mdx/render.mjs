// The images @mdx-js/mdx renders, as JSON: [{"src": ..., "alt": ... or null}, ...].
// Reads one MDX document on stdin; with --batch, a JSON array of documents, and prints an array
// of results (a failed compile gives {"error": message}). Images are read from the HTML tree
// (hast) that MDX compiles to JSX: Markdown images and JSX <img> elements alike.
import {compile} from '@mdx-js/mdx'

function value(attribute) {
  // A JSX expression (alt={x}) is kept as written, braces included.
  if (attribute.value && typeof attribute.value === 'object') return '{' + attribute.value.value + '}'
  return attribute.value === null || attribute.value === undefined ? '' : String(attribute.value)
}

function collect(node, images) {
  if (node.type === 'element' && node.tagName === 'img') {
    const {src, alt} = node.properties
    images.push({src: src === undefined ? null : String(src), alt: alt === undefined ? null : String(alt)})
  } else if ((node.type === 'mdxJsxFlowElement' || node.type === 'mdxJsxTextElement') && node.name === 'img') {
    const image = {src: null, alt: null}
    for (const attribute of node.attributes) {
      if (attribute.type === 'mdxJsxAttribute' && (attribute.name === 'src' || attribute.name === 'alt')) {
        image[attribute.name] = value(attribute)
      }
    }
    images.push(image)
  }
  for (const child of node.children || []) collect(child, images)
}

async function images(mdx) {
  const found = []
  await compile(mdx, {rehypePlugins: [() => (tree) => collect(tree, found)]})
  return found
}

let input = ''
for await (const chunk of process.stdin) input += chunk
if (process.argv.includes('--batch')) {
  const results = []
  for (const doc of JSON.parse(input)) {
    try {
      results.push(await images(doc))
    } catch (error) {
      results.push({error: String(error.message || error)})
    }
  }
  console.log(JSON.stringify(results))
} else {
  console.log(JSON.stringify(await images(input)))
}
