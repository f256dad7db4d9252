// Loads the repo's own .proto files so the peer and Weft always agree on the contract.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const protoRoot = path.resolve(__dirname, '../../proto');
const definition = protoLoader.loadSync(['shop/v1/ratings.proto', 'grpc/health/v1/health.proto'], {
  includeDirs: [protoRoot],
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(definition);

module.exports = {
  grpc,
  Echo: loaded.shop.v1.Echo,
  Health: loaded.grpc.health.v1.Health,
};
