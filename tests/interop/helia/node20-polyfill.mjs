// Node 20 lacks Promise.withResolvers (Node 22+), which @libp2p/utils, a
// dependency of Helia's trustless-gateway client, calls. Imported first.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
