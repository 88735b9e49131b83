// Stands in for dockerode's BuildKit session support, which the host service never uses.
module.exports = function withSession() {
  throw new Error('BuildKit sessions are not part of the host service build');
};
