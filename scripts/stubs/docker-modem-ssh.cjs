// Stands in for docker-modem's ssh:// transport: the host service talks to a local engine.
module.exports = function ssh() {
  throw new Error(
    'ssh:// Docker hosts are not supported by the host service build; use a unix or tcp DOCKER_HOST',
  );
};
